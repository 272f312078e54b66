"""Training batches through a DataLoader whose workers cannot change what a trial computes.

A :class:`ShuffledBatches` sampler draws each epoch's order and one seed per batch in the trial
process, all at the epoch's first batch, from the trial's generator (which checkpoints save and
restore; it draws from it exactly what a plain shuffling DataLoader did, so unaugmented training
sees the same batches as before); a worker only cuts the batch it is handed, with augmentation drawn from that batch's
seed. So a loader with workers yields the same batches as one without, and a resumed trial the
batches the interrupted one would have drawn. The loader's own generator (which seeds the worker
processes) is a separate one, so it draws nothing from torch's global RNG either.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

Batch = tuple[torch.Tensor, ...]
_SEED_RANGE = 2**62
PREFETCH_FACTOR = 4


class BatchDataset(Dataset):
    """A dataset that cuts a whole batch at once (a vectorised gather and augmentation)."""

    def batch(self, indices: np.ndarray, seed: int | None = None) -> Batch:
        """The samples ``indices`` as one batch; any randomness drawn from ``seed``."""
        return default_collate([self[int(i)] for i in indices])


@dataclass(frozen=True)
class BatchKey:
    """What a worker needs to cut one batch: sample indices and the batch's seed."""

    indices: np.ndarray
    seed: int


class _Batches(Dataset):
    """``dataset`` addressed by :class:`BatchKey` (a DataLoader with ``batch_size=None``)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, key: BatchKey) -> Batch:
        if isinstance(self.dataset, BatchDataset):
            return self.dataset.batch(key.indices, key.seed)
        return default_collate([self.dataset[int(i)] for i in key.indices])


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed % _SEED_RANGE)


class ShuffledBatches(Sampler[BatchKey]):
    """Shuffled batches of ``n`` samples. One process: the order comes from ``generator``. On
    ``world`` processes (as ``DistributedSampler``): from ``seed + epoch``, padded to a multiple of
    ``world`` by repeating the first samples, this ``rank`` taking every ``world``-th one."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        generator: torch.Generator | None = None,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if world == 1 and generator is None:
            raise ValueError("ShuffledBatches on one process needs the trial's generator")
        self.n, self.batch_size, self.generator = n, max(1, batch_size), generator
        self.seed, self.rank, self.world, self.epoch = seed, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _per_rank(self) -> int:
        return self.n if self.world == 1 else -(-self.n // self.world)

    def __len__(self) -> int:
        return -(-self._per_rank() // self.batch_size)

    def _draw(self) -> list[BatchKey]:
        if self.world == 1:
            # As a shuffling DataLoader given this generator: one int64 (its base seed; here the
            # root of the batches' seeds), the permutation, and the one its RandomSampler draws
            # on running out; so unaugmented batches are the ones such a loader drew.
            gen = self.generator
            root = int(torch.empty((), dtype=torch.int64).random_(generator=gen))
            order = torch.randperm(self.n, generator=gen).numpy()
            torch.randperm(self.n, generator=gen)
        else:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=gen).numpy()
            total = self._per_rank() * self.world
            order = np.resize(order, total)[self.rank : total : self.world]
            root = int(torch.randint(0, _SEED_RANGE, (self.world,), generator=gen)[self.rank])
        seeds = torch.randint(0, _SEED_RANGE, (len(self),), generator=_seeded(root))
        bs = self.batch_size
        return [BatchKey(order[j * bs : (j + 1) * bs], int(s)) for j, s in enumerate(seeds)]

    def __iter__(self) -> Iterator[BatchKey]:
        # A generator function: nothing is drawn until the first batch is asked for (a
        # DataLoader with workers calls ``iter`` twice on its first epoch), then all at once.
        yield from self._draw()


def seed_worker(worker_id: int) -> None:
    """numpy's and python's RNGs in a loader worker, from the seed torch gave the worker."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader_options(device: torch.device, cpus: int | None = None) -> dict[str, Any]:
    """DataLoader settings for a trial with ``cpus`` cores (default: torch's thread count, which
    the backend sets to the trial's CPUs): ``cpus - 1`` workers prefetching batches, none on one
    core (a small CPU trial would pay for processes it cannot use); pinned memory for CUDA."""
    cpus = torch.get_num_threads() if cpus is None else int(cpus)
    workers = cpus - 1 if cpus > 1 else 0
    options: dict[str, Any] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers:
        options.update(
            persistent_workers=True, prefetch_factor=PREFETCH_FACTOR, worker_init_fn=seed_worker
        )
    return options


def batch_loader(
    dataset: Dataset, sampler: ShuffledBatches, device: torch.device, cpus: int | None = None
) -> DataLoader:
    """A DataLoader of ``sampler``'s batches of ``dataset``, with workers per :func:`loader_options`."""
    return DataLoader(
        _Batches(dataset),
        batch_size=None,
        sampler=sampler,
        generator=torch.Generator().manual_seed(sampler.seed),
        **loader_options(device, cpus),
    )


def ordered_batches(dataset: BatchDataset, batch_size: int) -> Iterator[Batch]:
    """``dataset``'s samples in order, ``batch_size`` at a time, cut in this process (scoring)."""
    for start in range(0, len(dataset), batch_size):
        yield dataset.batch(np.arange(start, min(start + batch_size, len(dataset))))
