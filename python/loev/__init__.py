"""loev from Python: models and their embeddings, the HEAR API (``loev.hear``), and the tracked
augmentation chain for PyTorch data loaders.

>>> import loev, numpy as np
>>> model = loev.load_model("model.safetensors")          # written by `loev export`
>>> out = model.embed(np.zeros(16000 * 5, np.float32), 16000)
>>> out["v"]["mean"].shape                                 # one entry per embedding space

The heavy lifting is Rust (``loev._loev``); arrays go in and out as numpy arrays and the GIL
is released while loev computes. Errors are ``loev.LoevError`` with loev's own message.
"""

from __future__ import annotations

import json
from typing import Dict, List, Sequence, Union

import numpy as np

from . import _loev
from ._loev import LoevError, SAMPLE_RATE, __version__

__all__ = [
    "Augmenter",
    "LoevError",
    "Model",
    "SAMPLE_RATE",
    "import_mule_torch",
    "load_audio",
    "load_model",
    "positive_masks",
    "__version__",
]


def _mono_f32(audio, what: str = "audio") -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    if array.ndim != 1:
        raise LoevError(f"{what} must be a 1-D array of mono samples, got shape {array.shape}")
    return array


class Model:
    """A loev model loaded from a model file; see :func:`load_model`."""

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 16, hop_seconds: float = 2.0):
        self._model = _loev.Model(str(path), device, batch_size, hop_seconds)
        self.path = str(path)

    @property
    def spaces(self) -> List[tuple]:
        """The embedding spaces as ``(name, dimension)``: ``v`` (the encoder output), ``v_<head>``
        (LOEV++ branches) and ``z_<head>`` (projections)."""
        return self._model.spaces

    @property
    def sample_rate(self) -> int:
        """16000: audio of other rates is resampled."""
        return self._model.sample_rate

    @property
    def info(self) -> dict:
        """The model file's description: front end, input shape, heads and objectives, run, step."""
        return json.loads(self._model.info)

    def embed(self, audio, sample_rate: int) -> Union[Dict[str, dict], List[Dict[str, dict]]]:
        """Embeds mono audio at ``sample_rate``.

        ``audio`` is 1-D (one clip) or 2-D ``[n, samples]`` (a batch). Per clip, a dict from space
        name to ``{"timestamps": [T] seconds, "timeline": [T, D], "mean": [D]}`` (float32, except
        the float64 timestamps); a list of such dicts for a batch.
        """
        array = np.asarray(audio, dtype=np.float32)
        if array.ndim == 2:
            return [self._model.embed(np.ascontiguousarray(row), int(sample_rate)) for row in array]
        return self._model.embed(_mono_f32(array), int(sample_rate))


def load_model(path: str, device: str = "cpu", batch_size: int = 16, hop_seconds: float = 2.0) -> Model:
    """Loads a self-describing model file (``loev export RUN -o model.safetensors``; every
    checkpoint is one). ``device`` is ``cpu`` or, in a GPU build, ``cuda:N`` / ``vulkan:N``."""
    return Model(path, device, batch_size, hop_seconds)


class Augmenter:
    """The tracked augmentation chain, deterministic per seed and safe to share between threads.

    ``config`` is ``"default"`` (the seed paper's Table IV), a preset name (``"loev-ps"``), a path
    to a chain TOML file or TOML text. In a PyTorch ``Dataset``::

        def __getitem__(self, index):
            views, tracking, params = self.augmenter.views(self.clips[index], 16000, 4, item=index)
            return torch.from_numpy(views), torch.from_numpy(tracking)
    """

    def __init__(self, config: str = "default", seed: int = 0, method: str = None):
        self._augmenter = _loev.Augmenter(config, int(seed), method)
        self.seed = int(seed)

    @property
    def method(self) -> str:
        """How log-mel views render pitch shift and time stretch: ``"spectral"`` (read from the
        STFT without a waveform, the trainer's default) or ``"exact"`` (Signalsmith Stretch, then
        the front end). From the chain's ``[stretcher] method`` unless ``method=`` overrides it."""
        return self._augmenter.method

    @property
    def variant_names(self) -> List[str]:
        """The columns of the tracking matrix."""
        return self._augmenter.variant_names

    @property
    def view_samples(self) -> int:
        """Samples per view at 16 kHz (3 s)."""
        return self._augmenter.view_samples

    def views(self, audio, sample_rate: int, n_views: int, item: int = None, waveforms: bool = False):
        """``n_views`` augmented views of a mono clip.

        Returns ``(views, tracking, params)``: log-mel model inputs ``[n, mels, frames]`` float32,
        rendered by :attr:`method` exactly as the trainer renders its batches (or waveforms
        ``[n, samples]`` by the exact method when ``waveforms``), the tracking matrix ``[n, K]`` uint8 and
        one dict per view of the drawn parameters of every applied transform (and its crop).
        ``item=None`` gives the views ``loev augment --seed SEED`` writes; an integer gives the
        views of that item's own random stream (use the dataset index, mixed with the epoch for
        fresh views per epoch).
        """
        return self._augmenter.views(_mono_f32(audio), int(sample_rate), int(n_views), item, bool(waveforms))


def import_mule_torch(folder: str, out: str) -> dict:
    """Converts a mule-torch folder (``model.safetensors`` + ``config.json``: the published MULE
    weights, which users download themselves) into a loev model file at ``out`` for
    :func:`load_model` and :mod:`loev.hear`; the same import as ``loev import mule-torch``.
    Every tensor and configuration value is checked; a mismatch raises :class:`LoevError`
    naming it. Returns the model file's description (front end, source, weights' licence)."""
    return json.loads(_loev.import_mule_torch(str(folder), str(out)))


def load_audio(path: str) -> np.ndarray:
    """The audio file at ``path`` as 16 kHz mono float32 samples, through the decoder every
    ``loev`` command uses (wav, flac, mp3, ogg; resampled and down-mixed as they are). A wav
    whose sizes are placeholders (``0xFFFFFFFF`` or ``0``, as streaming writers leave them) is
    read to its end; a file with NaN or infinite samples raises :class:`LoevError` with their
    count, as the command line refuses it."""
    return _loev.load_audio(str(path))


def positive_masks(clip_ids: Sequence[int], tracking, config: str = None) -> np.ndarray:
    """The positive sets of the loss for a batch, as ``[H, n, n]`` booleans.

    With ``config`` (what :class:`Augmenter` takes: ``"default"``, a preset name, a .toml file or
    TOML text), the heads are those training builds for it, from the same function: head 0 is
    invariant, then one head per tracked transform that the chain applies (p > 0), in column
    order; a tracked transform with p = 0 has no head. ``tracking`` then has one column per
    tracked transform (as the Augmenter's views give it). Without ``config``, every column is a
    transform in use: head ``k`` leaves out column ``k - 1``. The sets come from the loss's own
    rule (positives only when the left-out transform was applied to neither view), so a PyTorch
    implementation can be checked against them or use them directly.
    """
    ids = np.ascontiguousarray(np.asarray(clip_ids, dtype=np.int64))
    if ids.ndim != 1:
        raise LoevError(f"clip_ids must be 1-D, got shape {ids.shape}")
    track = np.asarray(tracking)
    if track.ndim == 1 and track.size == 0:
        track = track.reshape(len(ids), 0)
    if track.ndim != 2:
        raise LoevError(f"tracking must be 2-D [views, variants], got shape {track.shape}")
    return _loev.positive_masks(ids, np.ascontiguousarray(track.astype(np.uint8)), config)
