"""The PyTorch DataLoader example runs an epoch of a small built-in corpus with 4 workers
(only where torch is installed)."""

import importlib.util
import pathlib

import pytest

from conftest import run

torch = pytest.importorskip("torch")


def test_an_epoch_with_four_workers(workdir):
    corpus = workdir / "loader-corpus"
    run("corpus", "generate", "--quiet", "--tracks", "12", "--notes", "0", "--seed", "5", "--track-seconds", "4,5", "-o", corpus)
    spec = importlib.util.spec_from_file_location(
        "torch_loader", pathlib.Path(__file__).resolve().parents[1] / "examples" / "torch_loader.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    views = example.main(str(corpus / "manifest.csv"), 4, 4)
    tracks = len(example.CorpusViews(corpus / "manifest.csv"))
    assert tracks == 12
    assert views == 4 * tracks
