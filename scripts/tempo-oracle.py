#!/usr/bin/env python3
"""Tempo-probe ceiling on the built-in corpus: an oracle feature in place of an embedding.

Copies an embeddings folder written by `loev embed` (or `loev demo`, e.g.
demo-out/embeddings/mule-b) and replaces its space `v` in every track file with a DSP
feature that carries tempo explicitly. The feature is the onset-strength autocorrelation
(lags 0.01 to 3 s) of the same 3 s slices at a 2 s hop. Time-stretched copies get the feature
of the audio stretched by their recorded rate. `loev probe OUT --space v` then runs the same
probe, so its tempo Acc1 is the ceiling that the probe, the labels and the splits allow.

    python3 scripts/tempo-oracle.py demo-out/embeddings/mule-b /tmp/oracle
    loev probe /tmp/oracle --space v

Needs numpy, soundfile and librosa (bench/anchors/requirements-augment.txt). This is a
diagnostic, not part of the product: it answers "is the tempo task learnable at all?".
"""

import csv
import json
import shutil
import struct
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile

SR = 16_000
HOP = 160  # 100 frames per second, as the model's front end
SLICE_S, SLICE_HOP_S = 3.0, 2.0
LAGS = 300  # autocorrelation lags 1..299 frames = 0.01..2.99 s


def slice_features(audio: np.ndarray, n_slices: int) -> np.ndarray:
    """[n_slices, LAGS - 1]: the onset autocorrelation of each 3 s slice, unit-normalised."""
    onset = librosa.onset.onset_strength(y=audio, sr=SR, hop_length=HOP, n_mels=96, fmax=8000)
    per_slice = int(SLICE_S * SR / HOP)
    step = int(SLICE_HOP_S * SR / HOP)
    rows = []
    for i in range(n_slices):
        start = min(i * step, max(0, len(onset) - per_slice))
        x = onset[start : start + per_slice]
        x = x - x.mean()
        ac = np.correlate(x, x, mode="full")[len(x) - 1 :][:LAGS]
        ac = np.pad(ac, (0, max(0, LAGS - len(ac))))
        ac = ac[1:] / (ac[0] + 1e-9)
        rows.append(ac.astype(np.float32))
    return np.stack(rows)


def write_safetensors(path: Path, arrays: dict) -> None:
    """The safetensors layout: u64 header length, JSON header, little-endian f32 data."""
    header, offset, blobs = {}, 0, []
    for name, array in arrays.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"loev.format": "loev-embeddings/1"}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_timestamps(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    begin, end = header["timestamps"]["data_offsets"]
    return np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype="<f4")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    meta = json.loads((source / "embeddings.json").read_text())
    if meta["format"] != "safetensors":
        sys.exit("the source folder must hold safetensors track files")
    if out.exists():
        shutil.rmtree(out)
    (out / "tracks").mkdir(parents=True)
    for name in ("index.csv", "stretched.csv"):
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    meta["spaces"] = [{"name": "v", "dim": LAGS - 1, "description": "oracle: onset autocorrelation"}]
    meta["model"] = "oracle (scripts/tempo-oracle.py)"
    (out / "embeddings.json").write_text(json.dumps(meta, indent=2))

    audio_of = {}
    with open(source / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            audio_of[row["id"]] = row["audio"]
            items = [(row["path"], row["audio"], 1.0)]
            convert(source, out, items)
    if (source / "stretched.csv").exists():
        with open(source / "stretched.csv", newline="") as f:
            for row in csv.DictReader(f):
                convert(source, out, [(row["path"], audio_of[row["source"]], float(row["rate"]))])
    print(f"wrote {out}")


def convert(source: Path, out: Path, items) -> None:
    for rel, audio_path, rate in items:
        timestamps = read_timestamps(source / rel)
        audio, sr = soundfile.read(audio_path, dtype="float32")
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        if sr != SR:
            audio = librosa.resample(audio, orig_sr=sr, target_sr=SR)
        if rate != 1.0:
            audio = librosa.effects.time_stretch(audio, rate=rate)
        timeline = slice_features(audio, len(timestamps))
        write_safetensors(
            out / rel,
            {"timestamps": timestamps, "v/timeline": timeline, "v/mean": timeline.mean(axis=0)},
        )


if __name__ == "__main__":
    main()
