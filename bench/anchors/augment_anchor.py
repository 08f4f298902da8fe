"""Python anchor of `loev bench augment`: the researcher's stack for LOEV's augmentation
chain (the seed paper's Table IV), audiomentations + pedalboard + librosa, with the same
transforms, probabilities and ranges as loev's default chain, then MULE's log-mel front end.

Per view: crop ceil(rate × 3 s) from the decoded track in memory (like loev's cache),
time stretch (p 0.5, rate 0.7…1.3) and pitch shift (p 0.5, −4…+4 st) with audiomentations'
Signalsmith Stretch, fit to 3 s, then gain (0.7), polarity (0.8), coloured noise (0.8),
one of LP/HP/BP/BS (each with its own p), reverb (0.5, pedalboard), distortion (0.6,
pedalboard), and the MULE log-mel (96 HTK mels, n_fft 2048, win 400, hop 160, unit-L2
filters, log10(10000·x + 1), 300 frames, standardised).

Prints progress on stderr and one JSON object as the last line of stdout.
Usage: python augment_anchor.py TRACK.wav [--views N] [--seed S] [--every-transform]
"""
import os

for _var in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"]:
    os.environ[_var] = "1"

import argparse
import json
import random
import sys
import time

try:
    import numpy as np
    import librosa
    import audiomentations as AM
    import pedalboard as PB
except ImportError as exc:  # reported to loev, which prints a skip message
    print(json.dumps({"error": f"cannot import the anchor's packages ({exc})"}))
    sys.exit(0)

SR = 16000
VIEW = 3 * SR


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("track")
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every-transform", action="store_true", help="every p = 1 (the filter kind is still drawn)")
    args = parser.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    one = args.every_transform

    def p(value):
        return 1.0 if one else value

    track, _ = librosa.load(args.track, sr=SR, mono=True)
    track = track.astype(np.float32)

    base = AM.Compose([
        AM.Gain(min_gain_db=-15.0, max_gain_db=5.0, p=p(0.7)),
        AM.PolarityInversion(p=p(0.8)),
        # f_decay in dB/octave = −3.01 × loev's decay exponent (power ∝ 1/f^decay, −2…2).
        AM.AddColorNoise(min_snr_db=3.0, max_snr_db=30.0, min_f_decay=-6.02, max_f_decay=6.02, p=p(0.8)),
        AM.OneOf([
            AM.LowPassFilter(min_cutoff_freq=150.0, max_cutoff_freq=7000.0, min_rolloff=24, max_rolloff=24, p=p(0.5)),
            AM.HighPassFilter(min_cutoff_freq=200.0, max_cutoff_freq=2400.0, min_rolloff=24, max_rolloff=24, p=p(0.5)),
            # audiomentations caps the bandwidth fraction below 2 (its band edges are arithmetic).
            AM.BandPassFilter(min_center_freq=200.0, max_center_freq=4000.0, min_bandwidth_fraction=0.5,
                              max_bandwidth_fraction=1.99, min_rolloff=12, max_rolloff=12, p=p(0.5)),
            AM.BandStopFilter(min_center_freq=200.0, max_center_freq=4000.0, min_bandwidth_fraction=0.5,
                              max_bandwidth_fraction=1.99, min_rolloff=12, max_rolloff=12, p=p(0.3)),
        ]),
    ])
    mel_basis = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=96, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    mel_basis /= np.maximum(np.linalg.norm(mel_basis, axis=1, keepdims=True), 1e-12)

    def logmel(x):
        spec = np.abs(librosa.stft(x, n_fft=2048, hop_length=160, win_length=400, window="hann", center=True,
                                   pad_mode="reflect")) ** 2
        mel = np.log10(10000.0 * (mel_basis @ spec) + 1.0)[:, :300]
        return (mel - mel.mean()) / max(mel.std(), 0.01)

    stage = [0.0, 0.0, 0.0]

    def view():
        t0 = time.perf_counter()
        rate = random.uniform(0.7, 1.3) if random.random() < p(0.5) else None
        semitones = random.uniform(-4.0, 4.0) if random.random() < p(0.5) else None
        need = int(np.ceil(rate * VIEW)) if rate else VIEW
        start = random.randrange(0, len(track) - need)
        x = track[start:start + need].copy()
        if rate:
            x = AM.TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=False,
                               method="signalsmith_stretch", p=1.0)(x, SR)
        if semitones is not None:
            x = AM.PitchShift(min_semitones=semitones, max_semitones=semitones, method="signalsmith_stretch", p=1.0)(x, SR)
        x = x[:VIEW] if len(x) >= VIEW else np.pad(x, (0, VIEW - len(x)))
        t1 = time.perf_counter()
        x = base(x.astype(np.float32), SR)
        effects = []
        if random.random() < p(0.5):
            wet = random.uniform(0.0, 1.0)
            effects.append(PB.Reverb(room_size=random.uniform(0.2, 1.0), wet_level=wet, dry_level=1.0 - wet, width=0.0))
        if random.random() < p(0.6):
            effects.append(PB.Distortion(drive_db=random.uniform(1.0, 10.0)))
        if effects:
            x = PB.Pedalboard(effects)(x, SR)
        t2 = time.perf_counter()
        m = logmel(x.astype(np.float32))
        t3 = time.perf_counter()
        stage[0] += t1 - t0
        stage[1] += t2 - t1
        stage[2] += t3 - t2
        return m

    for _ in range(5):  # warm-up (imports, plans, JIT)
        view()
    stage[:] = [0.0, 0.0, 0.0]
    print(f"anchor: timing {args.views} views …", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.views):
        m = view()
        assert m.shape == (96, 300)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = args.views
    print(json.dumps({
        "views": n,
        "seconds": elapsed,
        "views_per_s": n / elapsed,
        "cpu_views_per_s": n / cpu,
        "ms_pitch_stretch": 1000 * stage[0] / n,
        "ms_other_augs": 1000 * stage[1] / n,
        "ms_logmel": 1000 * stage[2] / n,
        "versions": {"audiomentations": AM.__version__, "pedalboard": PB.__version__, "librosa": librosa.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
    }))


if __name__ == "__main__":
    main()
