"""One epoch of the built-in corpus through a PyTorch DataLoader with 4 workers, each item the
augmented views of one track from loev.Augmenter, and the batch's LOEV positive masks.

    loev corpus generate -o corpus --tracks 40 --notes 0
    python python/examples/torch_loader.py corpus/manifest.csv

Needs torch (and loev). Prints the batches and their time.
"""

import csv
import pathlib
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset

import loev


class CorpusViews(Dataset):
    """Item `i`: `views` augmented log-mel views of track `i` and their tracking rows."""

    def __init__(self, manifest: pathlib.Path, views: int = 4, seed: int = 0, epoch: int = 0):
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("kind", "track") == "track"]
        self.paths = [manifest.parent / r["path"] for r in rows]
        self.augmenter = loev.Augmenter("loev-psts", seed=seed)
        self.views = views
        self.epoch = epoch

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        # loev's own decoder: any rate and channel count, and the wav files that Python's
        # `wave` misreads (placeholder sizes from streaming writers).
        audio = loev.load_audio(self.paths[index])
        # A stream per (epoch, item): fresh views every epoch, the same ones on a rerun.
        views, tracking, _ = self.augmenter.views(audio, 16000, self.views, item=self.epoch * len(self) + index)
        return torch.from_numpy(views), torch.from_numpy(tracking), index


def collate(items):
    views = torch.cat([v for v, _, _ in items])
    tracking = torch.cat([t for _, t, _ in items])
    clip_ids = torch.arange(len(items)).repeat_interleave(items[0][0].shape[0])
    return views, tracking, clip_ids


def main(manifest: str, workers: int = 4, batch: int = 8) -> int:
    data = CorpusViews(pathlib.Path(manifest))
    loader = DataLoader(data, batch_size=batch, num_workers=workers, collate_fn=collate)
    start, seen = time.time(), 0
    for views, tracking, clip_ids in loader:
        masks = loev.positive_masks(clip_ids.numpy(), tracking.numpy())
        assert views.shape[1:] == (96, 300) and masks.shape[0] == 1 + tracking.shape[1]
        seen += views.shape[0]
    elapsed = time.time() - start
    print(f"one epoch: {len(data)} tracks, {seen} views in {elapsed:.1f} s ({seen / elapsed:.0f} views/s, {workers} workers)")
    return seen


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
