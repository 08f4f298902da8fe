#!/usr/bin/env python3
"""librosa anchor for `loev bench audio`: the same work as the Rust side, on one core.

* decode + resample: `librosa.load(path, sr=16000, mono=True)` (soundfile + soxr_hq, librosa
  0.11's default) for each wav given, best of --repeats, reported as × real time.
* front end: for --slices 3 s views of the 16 kHz signal, MULE's log-mel
  (`melspectrogram` n_fft 2048, win 400, hop 160, hann, center reflect, power 2, 96 HTK mels
  0–8000 Hz, norm 2; log10(10000x + 1)), first 300 frames, standardised: slices/s.

Prints one JSON object on the last line. Run by `loev bench audio` with OMP/BLAS/numba threads
set to 1; exits with status 3 when librosa cannot be imported.
"""
import argparse
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wav", action="append", required=True, help="audio file to load (repeatable)")
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import librosa
        import numpy as np
    except ImportError as e:  # the caller prints a skip message
        print(json.dumps({"error": f"cannot import librosa: {e}"}))
        sys.exit(3)

    result = {"librosa": librosa.__version__, "numpy": np.__version__, "decode": []}
    signal = None
    for path in args.wav:
        librosa.load(path, sr=16000, mono=True)  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            y, _ = librosa.load(path, sr=16000, mono=True)
            best = min(best, time.perf_counter() - t0)
        seconds = len(y) / 16000
        result["decode"].append({"path": path, "seconds": seconds, "best_s": best, "x_realtime": seconds / best})
        if signal is None:
            signal = y

    view = 48000
    starts = [(i * 7919) % max(1, len(signal) - view) for i in range(args.slices)]

    def slice_input(x):
        mel = librosa.feature.melspectrogram(
            y=x, sr=16000, n_fft=2048, hop_length=160, win_length=400, window="hann", center=True,
            pad_mode="reflect", power=2.0, n_mels=96, fmin=0.0, fmax=8000.0, norm=2.0, htk=True, dtype=np.float32)
        mel = np.log10(10000.0 * mel + 1.0)[:, :300]
        mel = mel - mel.mean()
        return mel / max(float(mel.std()), 0.01)

    slice_input(signal[:view])  # warm-up (filterbank cache)
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for s in starts:
            slice_input(signal[s:s + view])
        best = min(best, time.perf_counter() - t0)
    result["frontend_slices_per_s"] = args.slices / best
    print(json.dumps(result))


if __name__ == "__main__":
    main()
