#!/usr/bin/env python3
"""Decoder test fixtures: short real files written by libsndfile (bundled with soundfile).

Writes crates/audio/tests/data/fixtures/:
* sine1k_<rate>_<mono|stereo>.<wav|flac|mp3|ogg>: 0.3 s of a 1 kHz sine at 8000, 22050,
  44100 and 48000 Hz. Mono at amplitude 0.5; stereo with 0.6 on the left and 0.2 on the right,
  so the mean down-mix is 0.4.
* opus.ogg: Ogg Opus (a codec loev does not decode → UnsupportedCodec).
* no_samples.wav: a valid wav header with zero frames (→ Empty).

Run from the repository root with the venv of scripts/golden/requirements.txt:
    python scripts/golden/make_decode_fixtures.py
"""
import pathlib

import numpy as np
import soundfile as sf

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/audio/tests/data/fixtures"
SECONDS = 0.3
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS")}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for rate in (8000, 22050, 44100, 48000):
        t = np.arange(int(SECONDS * rate)) / rate
        s = np.sin(2 * np.pi * 1000.0 * t)
        signals = {"mono": 0.5 * s, "stereo": np.stack([0.6 * s, 0.2 * s], axis=1)}
        for layout, x in signals.items():
            for ext, (fmt, subtype) in FORMATS.items():
                sf.write(OUT / f"sine1k_{rate}_{layout}.{ext}", x, rate, format=fmt, subtype=subtype)
    t = np.arange(int(SECONDS * 48000)) / 48000
    sf.write(OUT / "opus.ogg", 0.5 * np.sin(2 * np.pi * 1000.0 * t), 48000, format="OGG", subtype="OPUS")
    sf.write(OUT / "no_samples.wav", np.zeros(0), 16000, format="WAV", subtype="PCM_16")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(list(OUT.iterdir()))} files, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
