"""A conformance check of loev.hear modelled on hear-eval-kit's validator: the module's three
functions exist, the model has the three attributes, and both embedding functions return
float32 arrays of the documented shapes, with timestamps in milliseconds, strictly ascending,
equal across the sounds of a batch, and inside each sound."""

import numpy as np
import pytest

import loev
import loev.hear as hear
from conftest import music


@pytest.fixture(scope="module")
def model(model_file):
    return hear.load_model(str(model_file))


def test_the_api_and_its_attributes(model):
    for name in ("load_model", "get_timestamp_embeddings", "get_scene_embeddings"):
        assert callable(getattr(hear, name))
    assert isinstance(model.sample_rate, int) and model.sample_rate == 16000
    assert isinstance(model.scene_embedding_size, int) and model.scene_embedding_size > 0
    assert isinstance(model.timestamp_embedding_size, int) and model.timestamp_embedding_size > 0


@pytest.mark.parametrize("seconds", [1.0, 3.0, 6.5])
def test_timestamp_embeddings(model, seconds):
    audio = np.stack([music(seconds, seed=s) for s in range(3)])
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.dtype == np.float32 and timestamps.dtype == np.float32
    assert embeddings.ndim == 3 and embeddings.shape[0] == 3
    assert embeddings.shape[2] == model.timestamp_embedding_size
    assert timestamps.shape == embeddings.shape[:2]
    assert np.isfinite(embeddings).all()
    for row in timestamps:
        assert (np.diff(row) > 0).all(), row
        assert 0.0 <= row[0] and row[-1] <= seconds * 1000.0, row
    np.testing.assert_array_equal(timestamps[0], timestamps[1])
    if seconds > 5.0:
        # Slice centres every 0.25 s (in ms), clamped into the sound.
        assert np.median(np.diff(timestamps[0])) == pytest.approx(250.0, abs=1e-3)


def test_scene_embeddings_are_the_track_means(model):
    audio = np.stack([music(4.0, seed=s) for s in range(2)])
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == np.float32 and scene.shape == (2, model.scene_embedding_size)
    for row, embedding in zip(audio, scene):
        np.testing.assert_array_equal(embedding, model.model.embed(row, 16000)["v"]["mean"])


def test_torch_tensors_in_give_torch_tensors_out(model):
    torch = pytest.importorskip("torch")
    audio = torch.from_numpy(np.stack([music(3.0)]))
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert isinstance(embeddings, torch.Tensor) and isinstance(timestamps, torch.Tensor)
    assert isinstance(hear.get_scene_embeddings(audio, model), torch.Tensor)


def test_bad_input(model):
    with pytest.raises(loev.LoevError, match="n_sounds"):
        hear.get_scene_embeddings(np.zeros(16000, np.float32), model)
    with pytest.raises(loev.LoevError, match="no space"):
        hear.load_model(model.model.path, space="v_nothing")
