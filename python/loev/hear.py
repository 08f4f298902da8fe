"""The HEAR 2021 API, so that hear-eval-kit can evaluate a loev model unchanged::

    python -m heareval.embeddings.runner loev.hear --model model.safetensors

``load_model(path)`` returns a model with ``sample_rate``, ``scene_embedding_size`` and
``timestamp_embedding_size``; ``get_timestamp_embeddings(audio, model)`` returns
``(embeddings [n_sounds, T, D], timestamps [n_sounds, T] in milliseconds)`` and
``get_scene_embeddings(audio, model)`` returns ``[n_sounds, D]``. ``audio`` is
``[n_sounds, n_samples]`` at ``model.sample_rate`` (16 kHz). Torch tensors in give torch tensors
out; numpy arrays in give numpy arrays out.

The space is ``v`` (the encoder output, V or LOEV++'s V++) unless ``space`` is given. The
timeline's slices are 3 s long; their centres are every ``hop_seconds`` (default 0.25 s, finer
than MULE's 2 s so that timestamps resolve events), clamped into the sound, so that a sound
shorter than 3 s has one timestamp at its centre.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import LoevError, Model

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings", "HearModel"]

DEFAULT_HOP_SECONDS = 0.25


class HearModel:
    """A loev model with the attributes the HEAR API asks for."""

    def __init__(self, model: Model, space: str):
        dims = dict(model.spaces)
        if space not in dims:
            raise LoevError(f"the model has no space `{space}` (it has {', '.join(dims)})")
        self.model = model
        self.space = space
        self.sample_rate = model.sample_rate
        self.scene_embedding_size = dims[space]
        self.timestamp_embedding_size = dims[space]


def load_model(model_file_path: str = "", space: str = "v", hop_seconds: float = DEFAULT_HOP_SECONDS, device: str = "cpu") -> HearModel:
    """Loads a loev model file for the HEAR API."""
    if not model_file_path:
        raise LoevError("give the path of a loev model file (loev export RUN -o model.safetensors)")
    return HearModel(Model(model_file_path, device=device, hop_seconds=hop_seconds), space)


def _as_numpy(audio):
    """``(float32 numpy array [n, samples], torch module or None)``."""
    torch = None
    if type(audio).__module__.startswith("torch"):
        import torch  # noqa: F811 - only when a tensor was given

        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim != 2:
        raise LoevError(f"audio must be [n_sounds, n_samples], got shape {array.shape}")
    return array, torch


def get_timestamp_embeddings(audio, model: HearModel) -> Tuple[object, object]:
    """``(embeddings [n_sounds, T, D] float32, timestamps [n_sounds, T] float32 ms)``."""
    array, torch = _as_numpy(audio)
    per_sound = [model.model.embed(row, model.sample_rate)[model.space] for row in array]
    if per_sound:
        # Near the ends the slice centres are clamped into the sound, so several slices can share
        # a centre (the same slice): HEAR wants strictly increasing timestamps, so keep one each.
        _, keep = np.unique(per_sound[0]["timestamps"], return_index=True)
        embeddings = np.stack([s["timeline"][keep] for s in per_sound]).astype(np.float32)
        timestamps = np.stack([s["timestamps"][keep] * 1000.0 for s in per_sound]).astype(np.float32)
    else:
        embeddings = np.zeros((0, 0, model.timestamp_embedding_size), np.float32)
        timestamps = np.zeros((0, 0), np.float32)
    if torch is not None:
        return torch.from_numpy(embeddings), torch.from_numpy(timestamps)
    return embeddings, timestamps


def get_scene_embeddings(audio, model: HearModel):
    """``[n_sounds, D]`` float32: each sound's track embedding (the mean of its timeline)."""
    array, torch = _as_numpy(audio)
    means = [model.model.embed(row, model.sample_rate)[model.space]["mean"] for row in array]
    scene = np.stack(means).astype(np.float32) if means else np.zeros((0, model.scene_embedding_size), np.float32)
    return torch.from_numpy(scene) if torch is not None else scene
