"""The loev package against the loev binary: embeddings, augmented views, loss masks, errors."""

import json

import numpy as np
import pytest

import loev
from conftest import CHAIN, music, run


def test_model_spaces_shapes_and_dtypes(model_file):
    model = loev.load_model(str(model_file))
    assert model.sample_rate == 16000
    names = [name for name, _ in model.spaces]
    assert names == ["v", "z_invariant", "z_pitch_shift"]
    info = model.info
    assert info["frontend"]["n_mels"] == 64 and info["input"] == {"mels": 64, "frames": 300}
    assert [h["objective"]["kind"] for h in info["heads"]] == ["invariant", "leave_out"]
    out = model.embed(music(7.0), 16000)
    dims = dict(model.spaces)
    for name, space in out.items():
        t = space["timestamps"]
        assert space["timeline"].dtype == np.float32 and space["mean"].dtype == np.float32
        assert space["timeline"].shape == (t.size, dims[name])
        assert space["mean"].shape == (dims[name],)
        np.testing.assert_allclose(space["mean"], space["timeline"].mean(axis=0), atol=1e-5)
    # 7 s (701 frames): slice centres at every multiple of 2 s after 0, the last clamped so that
    # its 300 frames end with the spectrogram (frame 550.5 → 5.505 s... as the front end counts).
    assert out["v"]["timestamps"].tolist() == pytest.approx([2.0, 4.0, 5.51], abs=1e-9)


def test_a_batch_gives_one_result_per_clip(model_file):
    model = loev.load_model(str(model_file))
    batch = np.stack([music(4.0, seed=1), music(4.0, seed=2)])
    out = model.embed(batch, 16000)
    assert len(out) == 2
    single = model.embed(batch[1], 16000)
    np.testing.assert_array_equal(out[1]["v"]["timeline"], single["v"]["timeline"])


def test_embed_equals_loev_embed(model_file, clip, workdir):
    path, samples = clip
    out = workdir / "embeddings"
    run("embed", "--quiet", "--format", "npy", "--model", model_file, "-o", out, path)
    track = next((out / "tracks").iterdir())
    ours = loev.load_model(str(model_file)).embed(samples, 16000)
    np.testing.assert_allclose(ours["v"]["timestamps"], np.load(track / "timestamps.npy"), atol=1e-6)
    for name in ours:
        np.testing.assert_allclose(ours[name]["timeline"], np.load(track / f"{name}.timeline.npy"), atol=1e-5, rtol=0)
        np.testing.assert_allclose(ours[name]["mean"], np.load(track / f"{name}.mean.npy"), atol=1e-5, rtol=0)


def test_other_sample_rates_are_resampled(model_file):
    model = loev.load_model(str(model_file))
    at_44k = model.embed(music(5.0, rate=44100), 44100)
    at_16k = model.embed(music(5.0, rate=16000), 16000)
    assert at_44k["v"]["timeline"].shape == at_16k["v"]["timeline"].shape


def test_augmenter_equals_loev_augment(clip, workdir):
    path, samples = clip
    out = workdir / "augment"
    run("augment", "--seed", "11", "-n", "6", "-o", out, path)
    written = json.loads((out / "views.json").read_text())
    augmenter = loev.Augmenter("default", seed=11)
    waves, tracking, params = augmenter.views(samples, 16000, 6, waveforms=True)
    assert waves.shape == (6, 48000) and waves.dtype == np.float32
    assert tracking.dtype == np.uint8 and tracking.shape == (6, 2)
    import wave as wavmod

    for v, entry in enumerate(written["views"]):
        with wavmod.open(str(out / entry["file"]), "rb") as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        np.testing.assert_allclose(waves[v] * entry["wav_scale"], pcm, atol=1.5 / 32768.0, rtol=0)
        assert tracking[v].tolist() == entry["tracking"]
        for t in entry["transforms"]:
            if t["applied"]:
                assert params[v][t["name"]] == pytest.approx({**t["params"], **({"choice": t["choice"]} if t.get("choice") else {})})
            else:
                assert t["name"] not in params[v]


def test_log_mel_views_and_determinism():
    augmenter = loev.Augmenter("loev-ps", seed=3)
    assert augmenter.variant_names == ["pitch_shift"]
    audio = music(6.0)
    a = augmenter.views(audio, 16000, 4, item=17)
    b = augmenter.views(audio, 16000, 4, item=17)
    c = augmenter.views(audio, 16000, 4, item=18)
    assert a[0].shape == (4, 96, 300) and a[0].dtype == np.float32
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]
    assert not np.array_equal(a[0], c[0])
    assert np.isfinite(a[0]).all()


def test_positive_masks_are_the_loss_positive_sets():
    rng = np.random.default_rng(0)
    clip_ids = np.repeat(np.arange(5), 4)
    tracking = rng.integers(0, 2, size=(20, 3)).astype(np.uint8)
    masks = loev.positive_masks(clip_ids, tracking)
    assert masks.shape == (4, 20, 20) and masks.dtype == bool
    same_clip = (clip_ids[:, None] == clip_ids[None, :]) & ~np.eye(20, dtype=bool)
    np.testing.assert_array_equal(masks[0], same_clip)
    for k in range(3):
        neither = (tracking[:, k][:, None] == 0) & (tracking[:, k][None, :] == 0)
        np.testing.assert_array_equal(masks[k + 1], same_clip & neither)


def test_a_tracked_transform_with_p_0_gives_the_heads_of_training(model_file):
    # The model was trained with CHAIN: time stretch tracked (column 1) but never applied.
    heads = loev.load_model(str(model_file)).info["heads"]
    assert [h["name"] for h in heads] == ["invariant", "pitch_shift"]
    clip_ids = np.repeat(np.arange(3), 4)
    tracking = np.random.default_rng(1).integers(0, 2, size=(12, 2)).astype(np.uint8)
    masks = loev.positive_masks(clip_ids, tracking, config=CHAIN)
    assert masks.shape == (len(heads), 12, 12)
    same_clip = (clip_ids[:, None] == clip_ids[None, :]) & ~np.eye(12, dtype=bool)
    np.testing.assert_array_equal(masks[0], same_clip)
    neither = (tracking[:, 0][:, None] == 0) & (tracking[:, 0][None, :] == 0)
    np.testing.assert_array_equal(masks[1], same_clip & neither)
    # A preset's heads: MULE has the invariant head only.
    assert loev.positive_masks(clip_ids, tracking[:, :0], config="mule-b").shape == (1, 12, 12)
    with pytest.raises(loev.LoevError, match="2 columns"):
        loev.positive_masks(clip_ids, tracking, config="loev-ps")


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: loev.load_model("/no/such/model.safetensors"), "/no/such/model.safetensors"),
        (lambda: loev.Augmenter("[gain]\nq = 1\n", 0), "q"),
        (lambda: loev.Augmenter("variant = [\"pitch\"]\n", 0), "pitch"),
        (lambda: loev.Augmenter("default", 0).views(np.zeros((2, 100), np.float32), 16000, 2), "1-D"),
        (lambda: loev.Augmenter("default", 0).views(np.zeros(0, np.float32), 16000, 2), "no samples"),
        (lambda: loev.Augmenter("default", 0).views(np.array([0.0, np.nan], np.float32), 16000, 2), "non-finite"),
        (lambda: loev.Augmenter("default", 0).views(np.zeros(100, np.float32), 16000, 0), "n_views"),
        (lambda: loev.positive_masks([0, 0, 1], np.zeros((2, 1), np.uint8)), "rows"),
        (lambda: loev.positive_masks([0, -1], np.zeros((2, 1), np.uint8)), "-1"),
    ],
)
def test_bad_input_raises_a_loev_error_naming_the_problem(call, needle):
    with pytest.raises(loev.LoevError) as error:
        call()
    assert needle in str(error.value)


def test_a_model_file_with_a_mismatched_front_end_is_refused(model_file, workdir):
    data = model_file.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    entry = json.loads(header["__metadata__"]["loev.model_file"])
    entry["frontend"]["n_mels"] = 96
    header["__metadata__"]["loev.model_file"] = json.dumps(entry)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    edited = workdir / "edited.safetensors"
    edited.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + n :])
    with pytest.raises(loev.LoevError, match="frontend.n_mels"):
        loev.load_model(str(edited))


def test_log_mel_views_follow_the_chains_method():
    audio = music(6.0)
    spectral = loev.Augmenter("default", seed=5)
    assert spectral.method == "spectral"  # the trainer's default
    exact = loev.Augmenter("default", seed=5, method="exact")
    assert exact.method == "exact"
    a = spectral.views(audio, 16000, 6, item=3)
    b = exact.views(audio, 16000, 6, item=3)
    assert a[0].shape == b[0].shape == (6, 96, 300) and a[0].dtype == np.float32
    # Same plans and crops, rendered two ways.
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    assert not np.array_equal(a[0], b[0])
    correlation = (a[0] * b[0]).mean(axis=(1, 2))  # both standardised
    assert (correlation > 0.5).all(), correlation
    np.testing.assert_array_equal(a[0], spectral.views(audio, 16000, 6, item=3)[0])
    # Waveforms are always rendered exactly.
    np.testing.assert_array_equal(
        spectral.views(audio, 16000, 2, item=3, waveforms=True)[0],
        exact.views(audio, 16000, 2, item=3, waveforms=True)[0],
    )
    with pytest.raises(loev.LoevError, match="stretch method"):
        loev.Augmenter("default", seed=5, method="fast")


def test_import_mule_torch_names_what_is_wrong(workdir):
    with pytest.raises(loev.LoevError, match="config.json"):
        loev.import_mule_torch(str(workdir / "no-such-folder"), str(workdir / "mule.safetensors"))
    folder = workdir / "not-mule"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 768}))
    (folder / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(loev.LoevError, match="hidden_size"):
        loev.import_mule_torch(str(folder), str(workdir / "mule.safetensors"))
    assert not (workdir / "mule.safetensors").exists()
