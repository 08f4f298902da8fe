#!/usr/bin/env python3
"""Golden outputs of mule-torch (an independent PyTorch port of MULE) for loev's parity test.

Fills mule-torch's full MULE model with weights from a formula (no random generator), runs its
front end and encoder on three deterministic test signals, and writes:

* ``golden.safetensors``: per signal the log-mel ``<s>/logmel`` [96, T], the per-slice
  embeddings ``<s>/embeddings`` [N, 1728] and per-block activation statistics
  ``<s>/block_stats`` [blocks, 4] (mean, std, min, max of every stem, fusion and block output);
* ``config.json``: mule-torch's configuration (what ``save_pretrained`` writes);
* ``golden.json``: the versions of Python, torch, mule-torch, numpy and librosa, this script,
  the signals with mule-torch's largest log-mel deviation from the same front end computed in
  float64 by librosa, the block names and every tensor of the state dict with its shape.

``crates/artifacts/tests/mule_torch_parity.rs`` rebuilds the same weights from the same formula
as a mule-torch folder, imports it with ``loev import mule-torch`` and compares. Run by
developers where torch, mule-torch and librosa are installed (CI reads the committed files):

    pip install torch mule-torch==0.2.0 librosa safetensors
    python scripts/parity/mule_torch_golden.py   # writes crates/artifacts/tests/data/mule-torch/

The formula (mirrored in the Rust test): for a tensor named ``name`` and flat index ``i`` in
PyTorch's layout, ``u = (((fnv1a64(name) + i * 0x9E3779B97F4A7C15) mod 2^64) >> 40) / 2^24 - 0.5``
(exact in float32), then by kind, computed in float64 and rounded to float32 once:
``*.gain`` → 1 + 0.25·u; ``*.bias`` → 0.1·u; ``*.skip_gain`` → 0.5 + u; squeeze-excite
``*.se.fc*.weight`` → 2·u / sqrt(fan_in); every other ``*.weight`` (convolution kernels) → u.
The mel filterbank is librosa's (mule-torch builds it), the STFT basis mule-torch's own.

Test signals (16 kHz, float64 samples rounded to float32), t = i / 16000:
``chord`` 3.0 s: 0.2 sin(2π 220 t) + 0.15 sin(2π 277.18 t) + 0.1 sin(2π 329.63 t);
``chirp`` 4.0 s: 0.3 sin(2π (100 t + 3900 t² / 8));
``noisy`` 3.5 s: 0.1 u(i) with u the formula for the name "signal/noisy", plus
0.2 sin(2π 440 t) · i / n.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SAMPLE_RATE = 16000
SIGNALS = [("chord", 3.0), ("chirp", 4.0), ("noisy", 3.5)]


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x100000001B3) & MASK64
    return h


def unit(name: str, count: int) -> np.ndarray:
    """u for indices 0..count of `name` as float64 (exact multiples of 2^-24 in [-0.5, 0.5))."""
    h = np.uint64(fnv1a64(name))
    i = np.arange(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = h + i * np.uint64(GOLDEN)  # uint64 arithmetic wraps mod 2^64
    return (mixed >> np.uint64(40)).astype(np.float64) / float(1 << 24) - 0.5


def formula(name: str, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape)) if shape else 1
    u = unit(name, count)
    if name.endswith(".skip_gain"):
        v = 0.5 + u
    elif name.endswith(".gain"):
        v = 1.0 + 0.25 * u
    elif name.endswith(".bias"):
        v = 0.1 * u
    elif ".se.fc" in name and name.endswith(".weight"):
        v = u * (2.0 / math.sqrt(shape[1]))
    elif name.endswith(".weight"):
        v = u
    else:
        raise SystemExit(f"no formula for tensor {name}")
    return v.astype(np.float32).reshape(shape)


def signal(name: str, seconds: float) -> np.ndarray:
    n = int(round(seconds * SAMPLE_RATE))
    two_pi = 2.0 * math.pi
    out = np.empty(n, dtype=np.float64)
    if name == "chord":
        for i in range(n):
            t = i / SAMPLE_RATE
            out[i] = 0.2 * math.sin(two_pi * 220.0 * t) + 0.15 * math.sin(two_pi * 277.18 * t) + 0.1 * math.sin(
                two_pi * 329.63 * t
            )
    elif name == "chirp":
        for i in range(n):
            t = i / SAMPLE_RATE
            out[i] = 0.3 * math.sin(two_pi * (100.0 * t + 3900.0 * t * t / 8.0))
    elif name == "noisy":
        u = unit("signal/noisy", n)
        for i in range(n):
            t = i / SAMPLE_RATE
            out[i] = 0.1 * u[i] + 0.2 * math.sin(two_pi * 440.0 * t) * (i / n)
    else:
        raise SystemExit(f"unknown signal {name}")
    return out.astype(np.float32)


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=root / "crates/artifacts/tests/data/mule-torch")
    args = parser.parse_args()

    import librosa
    import mule_torch
    import torch
    from mule_torch import MuleConfig, MuleModel
    from safetensors.numpy import save_file

    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = MuleConfig()
    model = MuleModel(cfg)  # builds the librosa filterbank
    state = model.state_dict()
    tensors = []
    with torch.no_grad():
        for name, value in state.items():
            shape = tuple(value.shape)
            tensors.append({"name": name, "shape": list(shape)})
            if name.startswith("frontend."):
                continue
            value.copy_(torch.from_numpy(formula(name, shape)))
    model.eval()

    # Every stem, fusion and block output, in forward order.
    block_names: list[str] = []
    stats: dict[str, list[list[float]]] = {}
    current: list[list[float]] = []

    def hook(name):
        def record(_module, _inputs, output):
            o = output.detach().double()
            current.append([o.mean().item(), o.std(unbiased=False).item(), o.min().item(), o.max().item()])

        return record

    backbone = model.backbone
    named = [("slow_stem", backbone.slow_stem), ("fast_stem", backbone.fast_stem)]
    for k, fusion in enumerate(backbone.fusions):
        named.append((f"fusions.{k}", fusion))
    for path in ("slow_stages", "fast_stages"):
        for s, stage in enumerate(getattr(backbone, path)):
            for b, block in enumerate(stage.blocks):
                named.append((f"{path}.{s}.blocks.{b}", block))
    for name, module in named:
        block_names.append(name)
        module.register_forward_hook(hook(name))

    out: dict[str, np.ndarray] = {}
    deviation: dict[str, float] = {}
    with torch.inference_mode():
        for sig, seconds in SIGNALS:
            wave = torch.from_numpy(signal(sig, seconds))[None]
            logmel = model.frontend(wave)[0].numpy().astype(np.float32)
            out[f"{sig}/logmel"] = logmel
            # mule-torch's own distance from MULE's front end computed in float64 (librosa), so
            # that the test can tell its float32 DFT's rounding from a real difference.
            reference = np.log10(10000.0 * _librosa_mel(librosa, wave[0].numpy(), cfg) + 1.0)
            deviation[sig] = float(np.abs(logmel - reference).max())
            current.clear()
            out[f"{sig}/embeddings"] = model.embed_timeline(wave)[0].numpy().astype(np.float32)
            # Hooks fire in execution order; sort them back to the declared order.
            order = {n: i for i, n in enumerate(block_names)}
            fired = [n for n in _execution_order(backbone, block_names)]
            rows = dict(zip(fired, current))
            out[f"{sig}/block_stats"] = np.array([rows[n] for n in sorted(rows, key=order.get)], dtype=np.float32)

    args.out.mkdir(parents=True, exist_ok=True)
    save_file(out, str(args.out / "golden.safetensors"))
    (args.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    meta = {
        "generated_by": "scripts/parity/mule_torch_golden.py",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "mule_torch": mule_torch.__version__,
            "numpy": np.__version__,
            "librosa": librosa.__version__,
        },
        "torch_threads": torch.get_num_threads(),
        "signals": [
            {"name": s, "seconds": sec, "logmel_max_abs_vs_librosa_float64": deviation[s]} for s, sec in SIGNALS
        ],
        "block_stats_columns": ["mean", "std", "min", "max"],
        "blocks": block_names,
        "tensors": tensors,
    }
    (args.out / "golden.json").write_text(json.dumps(meta, indent=1) + "\n")
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1024:.0f} KiB)", file=sys.stderr)


def _librosa_mel(librosa, x, cfg):
    """MULE's mel power (mule_embedding_timeline.yml's librosa call) in float64."""
    return librosa.feature.melspectrogram(
        y=x.astype(np.float64),
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        win_length=cfg.win_length,
        hop_length=cfg.hop_length,
        window=cfg.window,
        center=cfg.center,
        pad_mode=cfg.pad_mode,
        power=cfg.power,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=cfg.htk,
        norm=cfg.mel_norm,
        dtype=np.float64,
    )


def _execution_order(backbone, block_names):
    """The order in which SfNfNetF0.forward runs the hooked modules: both stems, then per stage
    the fusion, the slow blocks and the fast blocks."""
    order = ["slow_stem", "fast_stem"]
    for k in range(len(backbone.fusions)):
        order.append(f"fusions.{k}")
        for b in range(len(backbone.slow_stages[k].blocks)):
            order.append(f"slow_stages.{k}.blocks.{b}")
        for b in range(len(backbone.fast_stages[k].blocks)):
            order.append(f"fast_stages.{k}.blocks.{b}")
    assert sorted(order) == sorted(block_names)
    return order


if __name__ == "__main__":
    main()
