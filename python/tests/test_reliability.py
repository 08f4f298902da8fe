"""The Python side of issue 28: the same rules as the command line for sample rates, non-finite
audio, sizes, devices and model files cut short, each a ``loev.LoevError`` with one clear message
(never an ``OverflowError``, an aborted interpreter or a panic printed to stderr)."""

import struct
import subprocess

import numpy as np
import pytest

import loev
from conftest import loev_binary, music


@pytest.mark.parametrize("rate", [1, 0, -16000, 999, 768001, 10**12])
def test_a_sample_rate_loev_does_not_read_is_refused_naming_it(model_file, rate):
    model = loev.load_model(str(model_file))
    with pytest.raises(loev.LoevError) as error:
        model.embed(music(1.0), rate)
    assert f"sample_rate = {rate} Hz" in str(error.value)
    augmenter = loev.Augmenter("default", 0)
    with pytest.raises(loev.LoevError, match="sample_rate"):
        augmenter.views(music(1.0), rate, 2)


def float_wav(samples: np.ndarray) -> bytes:
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 3, 1, 16000, 64000, 4, 32)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", len(data)) + data


def test_non_finite_audio_is_refused_with_the_same_count_as_the_command_line(model_file, workdir):
    audio = music(3.0)
    audio[100:107] = np.nan
    audio[2000] = np.inf
    path = workdir / "non-finite.wav"
    path.write_bytes(float_wav(audio))
    cli = subprocess.run([str(loev_binary()), "features", "-o", str(workdir / "nf.npy"), str(path)], capture_output=True, text=True)
    assert cli.returncode == 1
    assert "8 non-finite samples (NaN or infinite)" in cli.stderr
    model = loev.load_model(str(model_file))
    with pytest.raises(loev.LoevError, match=r"8 non-finite samples \(NaN or infinite\) among its 48000, the first at index 100"):
        model.embed(audio, 16000)
    with pytest.raises(loev.LoevError, match="8 non-finite samples"):
        loev.Augmenter("default", 0).views(audio, 16000, 2)


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda model: loev.Augmenter("default", 0).views(music(1.0), 16000, -1), "n_views must be at least 1"),
        (lambda model: loev.Augmenter("default", 0).views(music(1.0), 16000, 10**9), "n_views = 1000000000"),
        (lambda model: loev.positive_masks(np.zeros(10**6, np.int64), np.zeros((10**6, 1), np.uint8)), "1000000 views"),
        (lambda model: loev.load_model(str(model), batch_size=-3), "batch_size must be at least 1"),
        (lambda model: loev.load_model(str(model), batch_size=10**9), "batch size 1000000000"),
    ],
)
def test_sizes_no_machine_holds_are_refused_before_allocating(model_file, call, needle):
    with pytest.raises(loev.LoevError) as error:
        call(model_file)
    assert needle in str(error.value)


@pytest.mark.parametrize("device", ["cuda:64", "vulkan:64", "opengl:64"])
def test_a_device_that_cannot_be_opened_is_one_error_without_panic_output(model_file, device, capfd):
    with pytest.raises(loev.LoevError) as error:
        loev.load_model(str(model_file), device=device)
    message = str(error.value)
    assert device in message and "\n" not in message and "unwrap" not in message
    captured = capfd.readouterr()
    assert "panicked" not in captured.err and "RecvError" not in captured.err, captured.err


def test_a_model_file_cut_short_is_called_truncated(model_file, workdir):
    data = model_file.read_bytes()
    cut = workdir / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(loev.LoevError, match="truncated"):
        loev.load_model(str(cut))


def pcm16_wav(samples: np.ndarray, rate: int, channels: int, riff_size=None, data_size=None) -> bytes:
    """A 16-bit wav of interleaved `samples`; `riff_size` / `data_size` replace the true sizes
    (the placeholders streaming writers leave)."""
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
    riff = 4 + 8 + len(fmt) + 8 + len(data) if riff_size is None else riff_size
    size = len(data) if data_size is None else data_size
    return b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size) + data


@pytest.mark.parametrize("rate, channels", [(16000, 1), (44100, 2)])
@pytest.mark.parametrize("riff_size, data_size", [(0xFFFFFFFF, 0xFFFFFFFF), (0, 0), (0xFFFFFFFF, 0), (0, 0xFFFFFFFF)])
def test_load_audio_reads_a_wav_with_placeholder_sizes_like_the_true_one(workdir, rate, channels, riff_size, data_size):
    mono = music(2.0, rate)
    samples = np.repeat(mono, channels) if channels > 1 else mono
    true_path = workdir / f"true-{rate}-{channels}.wav"
    true_path.write_bytes(pcm16_wav(samples, rate, channels))
    placeholder = workdir / f"placeholder-{rate}-{channels}-{riff_size}-{data_size}.wav"
    placeholder.write_bytes(pcm16_wav(samples, rate, channels, riff_size, data_size))
    expected = loev.load_audio(true_path)
    assert expected.dtype == np.float32 and expected.size == 32000
    np.testing.assert_array_equal(loev.load_audio(placeholder), expected)


def test_load_audio_refuses_non_finite_samples_like_the_command_line(workdir):
    audio = music(1.0)
    audio[10:13] = np.inf
    path = workdir / "inf.wav"
    path.write_bytes(float_wav(audio))
    with pytest.raises(loev.LoevError, match="3 non-finite samples"):
        loev.load_audio(path)
