"""Views per second of loev.Augmenter from Python against the researcher's Python chain
(audiomentations + pedalboard + librosa: bench/anchors/augment_anchor.py, the anchor of
`loev bench augment`), measured in the same run on the same track, one thread each.

    python bench/loev_augmenter.py [--views 200] [--seconds 60] [--anchor-python PYTHON]

The track is the built-in corpus's first track, written by the loev binary ($LOEV_BIN, else
target/release/loev). loev's views are log-mel model inputs made by the spectral method
(read from the STFT, no waveform; the trainer's default) and by the exact method (a waveform
per view, then the front end, as the anchor makes them); `--waveforms` times the waveforms
alone. The anchor runs under --anchor-python (default: this Python), which needs
the packages of bench/anchors/requirements-augment.txt.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

import loev

REPO = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the track the views are cropped from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--waveforms", action="store_true")
    parser.add_argument("--anchor-python", default=sys.executable)
    args = parser.parse_args()
    binary = pathlib.Path(os.environ.get("LOEV_BIN", REPO / "target" / "release" / "loev"))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = pathlib.Path(tmp) / "corpus"
        seconds = f"{args.seconds},{args.seconds}"
        subprocess.run([str(binary), "corpus", "generate", "--quiet", "--tracks", "1", "--notes", "0",
                        "--track-seconds", seconds, "--seed", str(args.seed), "-o", str(corpus)], check=True)
        track = next((corpus / "tracks").glob("*.wav"))
        with wave.open(str(track), "rb") as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0

        # Log-mel views by both methods (the spectral one is the trainer's default); waveforms
        # are always rendered by the exact method.
        methods = ["exact"] if args.waveforms else ["spectral", "exact"]
        rates = {}
        for method in methods:
            augmenter = loev.Augmenter("default", seed=args.seed, method=method)
            augmenter.views(audio, 16000, 4, item=0, waveforms=args.waveforms)  # warm-up
            batch = 4
            start = time.perf_counter()
            done = 0
            item = 1
            while done < args.views:
                views, _, _ = augmenter.views(audio, 16000, batch, item=item, waveforms=args.waveforms)
                done += views.shape[0]
                item += 1
            rates[method] = done / (time.perf_counter() - start)
            print(f"loev.Augmenter ({'waveforms' if args.waveforms else 'log-mel inputs'}, {method} method, "
                  f"1 thread): {rates[method]:.1f} views/s")

        anchor = subprocess.run([args.anchor_python, str(REPO / "bench" / "anchors" / "augment_anchor.py"), str(track),
                                 "--views", str(args.views), "--seed", str(args.seed)], capture_output=True, text=True)
        if anchor.returncode != 0:
            print(f"anchor not run ({args.anchor_python}): {anchor.stderr.strip().splitlines()[-1:]}")
            return
        result = json.loads(anchor.stdout.strip().splitlines()[-1])
        versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        print(f"Python chain ({versions}): {result['views_per_s']:.1f} views/s")
        for method, rate in rates.items():
            print(f"ratio loev.Augmenter ({method}) / Python chain: {rate / result['views_per_s']:.2f}×")


if __name__ == "__main__":
    main()
