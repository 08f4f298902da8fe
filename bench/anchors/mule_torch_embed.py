#!/usr/bin/env python3
"""Anchor of `loev bench embed`: mule-torch (an independent PyTorch port of MULE) embedding whole
tracks on PyTorch's CPU backend.

Builds mule-torch's full MULE model with seeded random weights and the mel filterbank loev wrote
(`--mel-fb`, a .npy file, so that librosa is not needed), saves it as a mule-torch folder
(`--save`, which loev then imports, so both sides run the same weights), and times
`model(waveform)` — mule-torch's own call: log-mel, 3 s slices every 2 s, the backbone on all
slices at once, the mean over slices — on the test track of each length. Prints one JSON object
as its last line: per length the wall time, the slice count, the peak resident memory of the
timed call (VmHWM after resetting it) and the track embedding.

Needs torch, mule-torch (0.2) and safetensors: `pip install torch mule-torch safetensors`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def test_track(seconds: float, sample_rate: int = 16000):
    """The benchmark's test track (the same formula as crates/bench/src/embed.rs): three
    sines whose frequencies move slowly, so that every slice differs."""
    import numpy as np

    n = int(round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    x = (
        0.2 * np.sin(2 * math.pi * (220.0 * t + 20.0 * np.sin(2 * math.pi * 0.05 * t)))
        + 0.15 * np.sin(2 * math.pi * 330.0 * t)
        + 0.1 * np.sin(2 * math.pi * (1000.0 * t + 300.0 * np.sin(2 * math.pi * 0.11 * t)))
    )
    return x.astype(np.float32)


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--save", required=True, help="folder to save the mule-torch model to")
    parser.add_argument("--mel-fb", required=True, help=".npy mel filterbank [96, 1025]")
    parser.add_argument("--seconds", default="30,600")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    try:
        import numpy as np
        import torch
        import mule_torch
        from mule_torch import MuleConfig, MuleModel
    except ImportError as e:
        print(json.dumps({"error": f"cannot import {e.name}"}))
        return

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = MuleConfig()
    mel_fb = torch.from_numpy(np.load(args.mel_fb).astype(np.float32))
    model = MuleModel(cfg, mel_fb=mel_fb)
    with torch.no_grad():
        # SkipInit gains start at 0; give every residual branch a weight so that it counts.
        for name, p in model.named_parameters():
            if name.endswith("skip_gain"):
                p.fill_(0.5)
    model.eval()
    model.save_pretrained(args.save)

    results = []
    with torch.inference_mode():
        model(torch.from_numpy(test_track(3.0))[None])  # warm-up
        for seconds in [float(s) for s in args.seconds.split(",") if s]:
            wave = torch.from_numpy(test_track(seconds))[None]
            reset_peak()
            start = time.perf_counter()
            emb = model(wave)[0]
            wall = time.perf_counter() - start
            mel_frames = 1 + wave.shape[1] // cfg.hop_length
            slices = len([t for t in range(0, mel_frames, cfg.slice_hop) if t > 0]) if mel_frames >= 300 else 1
            results.append(
                {
                    "seconds": seconds,
                    "slices": slices,
                    "wall_s": wall,
                    "peak_mib": peak_mib(),
                    "embedding": [float(v) for v in emb],
                }
            )
            print(f"mule-torch: {seconds:.0f} s in {wall:.2f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "mule_torch": mule_torch.__version__,
                "threads": torch.get_num_threads(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
