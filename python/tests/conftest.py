"""Fixtures of the Python tests: the `loev` binary and a small model trained and exported by it.

The binary is ``$LOEV_BIN``, else ``target/release/loev`` of this repository (CI builds it
first). The model is the test-size LOEV-PS encoder trained for two steps on four tracks of the
built-in corpus, at 64 mel bands (not MULE's 96), so that a front end taken from anywhere but
the model file would show.
"""

import os
import pathlib
import subprocess
import wave

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# The fixture model's augmentation chain (the [augment] section below): time stretch is tracked
# but never applied, so training builds no head for it.
CHAIN = """
variant = ["pitch_shift", "time_stretch"]
[time_stretch]
p = 0.0
"""

TRAIN_CONFIG = """
name = "pytest"
[data]
cache = "{cache}"
anchors = 2
views = 2
workers = 1
prefetch = 1
[frontend]
n_mels = 64
[model]
size = "test"
[objective]
kind = "loev"
anchor_mean = "all_anchors"
[augment]
variant = ["pitch_shift", "time_stretch"]
[augment.time_stretch]
p = 0.0
[train]
steps = 2
checkpoint_every = 2
log_every = 1
"""


def loev_binary() -> pathlib.Path:
    given = os.environ.get("LOEV_BIN")
    path = pathlib.Path(given) if given else REPO / "target" / "release" / "loev"
    if not path.is_file():
        pytest.fail(f"the loev binary is not at {path}: build it (cargo build --release) or set LOEV_BIN")
    return path


def run(*args, cwd=None) -> str:
    """Runs the loev binary; a failure fails the test with its stderr."""
    result = subprocess.run([str(loev_binary()), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        pytest.fail(f"loev {' '.join(map(str, args))} failed:\n{result.stderr}\n{result.stdout}")
    return result.stdout


def write_wav16(path: pathlib.Path, samples: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Writes 16-bit PCM and returns the samples as loev decodes them (int16 / 32768)."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def music(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A few seconds of chords with a pulse: something with pitch and rhythm."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3.0
    pulse = (np.sin(2 * np.pi * 2.0 * t) > 0.9).astype(np.float64)
    noise = rng.normal(0, 0.02, t.size)
    return (0.4 * chord * (0.6 + 0.4 * pulse) + noise).astype(np.float32)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("loev")


@pytest.fixture(scope="session")
def model_file(workdir) -> pathlib.Path:
    """A model file exported from a two-step run at 64 mel bands."""
    corpus = workdir / "corpus"
    run("corpus", "generate", "--quiet", "--tracks", "4", "--notes", "0", "--seed", "3", "--track-seconds", "4,5", "-o", corpus)
    cache = workdir / "cache"
    run("cache", "build", "--quiet", "-o", cache, corpus / "manifest.csv")
    config = workdir / "run.toml"
    config.write_text(TRAIN_CONFIG.format(cache=cache.as_posix()))
    run("pretrain", "--no-progress", "--config", config, "--out", workdir / "run")
    path = workdir / "model.safetensors"
    run("export", workdir / "run", "-o", path)
    return path


@pytest.fixture(scope="session")
def clip(workdir):
    """(path of a 16-bit wav of 7 s of music, its samples as loev decodes them)."""
    path = workdir / "clip.wav"
    return path, write_wav16(path, music(7.0))
