#!/usr/bin/env python3
"""Golden files for loev's log-mel front end, computed with librosa.

Writes crates/audio/tests/data/golden/: for every case an input signal (`<name>.input.npy`,
float32, 16 kHz), the compressed mel spectrogram librosa gives (`<name>.mel.npy`, float32
[n_mels, n_frames]), optionally MULE's standardised slices (`<name>.slices.npy`,
[K, n_mels, frames]) with their centre times, and `cases.json` holding each case's front-end
config in loev's own field names (the Rust test deserialises it into `FrontEndConfig`).

Run from the repository root:
    python3 -m venv .venv-golden && .venv-golden/bin/pip install -r scripts/golden/requirements.txt
    .venv-golden/bin/python scripts/golden/make_frontend_golden.py
"""
import json
import pathlib

import librosa
import numpy as np

SR = 16000
OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/audio/tests/data/golden"

MULE = dict(
    sample_rate=SR, n_fft=2048, win_length=400, hop_length=160, center=True, pad_mode="reflect",
    n_mels=96, fmin=0.0, fmax=8000.0, mel_scale="htk", filter_norm="l2", power=2.0,
    compression={"kind": "log10_nonneg", "scale": 10000.0}, frames=300, standardize=True, std_floor=0.01,
)


def white_noise(rng, seconds):
    return 0.1 * rng.standard_normal(int(seconds * SR))


def pink_noise(rng, seconds):
    n = int(seconds * SR)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec /= np.sqrt(f)
    x = np.fft.irfft(spec, n)
    return 0.2 * x / np.max(np.abs(x))


def tone(freq, t, harmonics=4):
    return sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))


def chord(seconds):
    t = np.arange(int(seconds * SR)) / SR
    env = np.minimum(t / 0.02, 1.0) * np.exp(-1.5 * t)
    notes = [261.63, 329.63, 392.00]  # C4 E4 G4
    return 0.12 * env * sum(tone(f, t) for f in notes)


def music(rng, seconds):
    """Drums + bass + chords at 120 BPM (C - Am - F - G), a stand-in for a music excerpt."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    beat = 0.5
    progression = [(130.81, [261.63, 329.63, 392.00]), (110.00, [220.00, 261.63, 329.63]),
                   (87.31, [174.61, 220.00, 261.63]), (98.00, [196.00, 246.94, 293.66])]
    for b in range(int(seconds / beat) + 1):
        start = int(b * beat * SR)
        if start >= n:
            break
        seg = np.arange(n - start) / SR
        # kick on every beat: a falling sine sweep
        kick = np.sin(2 * np.pi * (50 * seg + 60 * (1 - np.exp(-seg * 30)) / 30)) * np.exp(-seg * 12)
        x[start:] += 0.5 * kick
        # snare on beats 2 and 4: a noise burst plus a 190 Hz body
        if b % 2 == 1:
            burst = rng.standard_normal(n - start) * np.exp(-seg * 25) + 0.5 * np.sin(2 * np.pi * 190 * seg) * np.exp(-seg * 20)
            x[start:] += 0.25 * burst
        # closed hi-hat on every half beat: differentiated (bright) noise
        for half in (0, 1):
            hs = start + int(half * beat / 2 * SR)
            if hs < n:
                hseg = np.arange(n - hs) / SR
                hat = np.diff(rng.standard_normal(n - hs + 1)) * np.exp(-hseg * 80)
                x[hs:] += 0.05 * hat
        # bass (one note per beat) and chord (one per bar of 4 beats)
        root, triad = progression[(b // 4) % len(progression)]
        env = np.exp(-seg * 4)
        x[start:] += 0.2 * env * tone(root, seg, harmonics=6)
        if b % 4 == 0:
            cenv = np.minimum(seg / 0.01, 1.0) * np.exp(-seg * 0.8)
            x[start:] += 0.06 * cenv * sum(tone(f, seg) for f in triad)
    return 0.8 * x / np.max(np.abs(x))


def log_mel(y, c):
    mel = librosa.feature.melspectrogram(
        y=y, sr=c["sample_rate"], n_fft=c["n_fft"], hop_length=c["hop_length"], win_length=c["win_length"],
        window="hann", center=c["center"], pad_mode=c["pad_mode"], power=c["power"], n_mels=c["n_mels"],
        fmin=c["fmin"], fmax=c["fmax"], norm={"l2": 2.0, "slaney": "slaney", "none": None}[c["filter_norm"]],
        htk=c["mel_scale"] == "htk", dtype=np.float32,
    )
    comp = c["compression"]
    if comp["kind"] == "log10_nonneg":
        mel = np.log10(comp["scale"] * mel + 1.0)
    elif comp["kind"] == "db":
        mel = librosa.power_to_db(mel, ref=1.0, amin=comp["amin"], top_db=comp["top_db"])
    else:
        raise ValueError(comp)
    return np.nan_to_num(mel, nan=-9999999999.0, posinf=-9999999999.0, neginf=-9999999999.0).astype(np.float32)


def mule_slices(mel, frames, hop):
    """MULE's SliceExtractor (look_backward = look_forward = frames / 2) with standardisation."""
    back, fwd = frames // 2, frames - frames // 2
    n = mel.shape[1]
    centres = [t for t in range(0, n, hop) if t > 0]
    centres = [min(max(c, back), n - fwd) for c in centres]
    out = np.stack([mel[:, c - back:c + fwd] for c in centres]).astype(np.float32)
    out -= out.mean(axis=(1, 2), keepdims=True)
    std = np.nan_to_num(out.std(axis=(1, 2), keepdims=True), nan=1.0, posinf=1.0, neginf=1.0)
    out /= np.maximum(std, 0.01)
    return out.astype(np.float32), [c * 160 / SR for c in centres]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20250101)
    signals = {
        "white_noise": white_noise(rng, 1.0),
        "pink_noise": pink_noise(rng, 1.0),
        "chord": chord(1.5),
        "music": music(rng, 4.5),
        "short": 0.3 * np.sin(2 * np.pi * 440 * np.arange(800) / SR) + 0.01 * rng.standard_normal(800),
    }
    variant_128 = dict(MULE, n_mels=128, frames=400)
    librosa_default_db = dict(MULE, n_mels=64, mel_scale="slaney", filter_norm="slaney",
                              compression={"kind": "db", "amin": 1e-10, "top_db": 80.0})
    cases = [
        ("white_noise", "white_noise", MULE, False),
        ("pink_noise", "pink_noise", MULE, False),
        ("chord", "chord", MULE, False),
        ("music", "music", MULE, True),
        ("short", "short", MULE, False),
        ("chord_128mel_400frames", "chord", variant_128, False),
        ("chord_slaney_db", "chord", librosa_default_db, False),
    ]
    for name, y in signals.items():
        np.save(OUT / f"{name}.input.npy", y.astype(np.float32))
    listing = []
    for name, signal, cfg, with_slices in cases:
        y = signals[signal].astype(np.float32)
        mel = log_mel(y, cfg)
        np.save(OUT / f"{name}.mel.npy", mel)
        entry = {"name": name, "input": f"{signal}.input.npy", "mel": f"{name}.mel.npy", "config": cfg}
        if with_slices:
            slices, centres = mule_slices(mel, cfg["frames"], 200)
            np.save(OUT / f"{name}.slices.npy", slices)
            entry.update(slices=f"{name}.slices.npy", slice_hop_frames=200, slice_centres_s=centres)
        listing.append(entry)
        print(f"{name}: mel {mel.shape}")
    versions = {"librosa": librosa.__version__, "numpy": np.__version__}
    (OUT / "cases.json").write_text(json.dumps({"generated_with": versions, "cases": listing}, indent=1) + "\n")


if __name__ == "__main__":
    main()
