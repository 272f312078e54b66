"""Support / query splitters (NAS's random halves, D/T-NAS's domains) and batch helpers.

A splitter's ``epoch(epoch)`` yields the epoch's ``Task``s; its ``state_dict`` is its batch
sources' sampler state, so a resumed search draws the batches an uninterrupted one would.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any

import torch

from workloads.nas.config import Batch, Task

__all__ = [
    "DomainSplit",
    "RandomSplit",
    "as_batches",
    "batches_by_domain",
    "random_halves",
    "tensor_batches",
]


class RandomSplit:
    """NAS: pair the support and query iterables batch by batch (re-iterated every epoch)."""

    def __init__(self, support: Iterable[Batch], query: Iterable[Batch]) -> None:
        self.support, self.query = support, query

    def epoch(self, epoch: int) -> Iterator[Task]:
        for bs, bq in zip(self.support, self.query, strict=False):
            yield Task([("support", bs)], ("query", bq))

    def state_dict(self) -> dict[str, Any]:
        return {"support": _source_state(self.support), "query": _source_state(self.query)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load_source_state(self.support, state["support"])
        _load_source_state(self.query, state["query"])


class DomainSplit:
    """D/T-aware split: each step one random query domain, a batch of each other as support.

    ``domains`` maps a domain (dataset or attack type) to its batches; each is cycled
    independently, so a batch never mixes domains. Steps per epoch: ``steps_per_epoch`` or the
    shortest domain's length.
    """

    def __init__(
        self,
        domains: Mapping[str, Iterable[Batch]],
        steps_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if len(domains) < 2:
            raise ValueError(f"a domain-aware split needs >= 2 domains; got {list(domains)}")
        self.domains = dict(domains)
        lengths = [len(d) for d in self.domains.values() if isinstance(d, Sized)]
        self.steps = steps_per_epoch or (min(lengths) if lengths else 1)
        self.rng = random.Random(seed)

    def _cycle(self, name: str) -> Iterator[Batch]:
        while True:
            yield from self.domains[name]

    def epoch(self, epoch: int) -> Iterator[Task]:
        its = {name: self._cycle(name) for name in self.domains}
        names = list(self.domains)
        for _ in range(self.steps):
            q = self.rng.choice(names)
            support = [(d, next(its[d])) for d in names if d != q]
            yield Task(support, (q, next(its[q])))

    def state_dict(self) -> dict[str, Any]:
        # each epoch re-iterates every domain from its start: the sources' samplers and the
        # query-domain draw are the whole state
        return {
            "rng": self.rng.getstate(),
            "domains": {name: _source_state(src) for name, src in self.domains.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        for name, src in self.domains.items():
            _load_source_state(src, state["domains"][name])


def _source_state(source: Any) -> Any:
    """A batch source's sampler state: its own ``state_dict``, a DataLoader's generator, or
    None (a list is re-iterated unchanged; a loader without a generator draws from torch's
    global RNG, which the caller saves)."""
    if hasattr(source, "state_dict"):
        return source.state_dict()
    gen = getattr(source, "generator", None)
    return {"generator": gen.get_state()} if isinstance(gen, torch.Generator) else None


def _load_source_state(source: Any, state: Any) -> None:
    if state is None:
        return
    if hasattr(source, "load_state_dict"):
        source.load_state_dict(state)
    else:
        source.generator.set_state(state["generator"])


def tensor_batches(
    tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool = True, seed: int = 0
) -> list[tuple[torch.Tensor, ...]]:
    """Cut aligned tensors (images, maps, labels, ...) into batches (last partial one kept)."""
    n = len(tensors[0])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else None
    idx = order if order is not None else torch.arange(n)
    return [tuple(t[idx[i : i + batch_size]] for t in tensors) for i in range(0, n, batch_size)]


def as_batches(data: Any, batch_size: int, seed: int) -> Iterable[Batch]:
    """Raw aligned tensors (images, maps, labels, ...) cut into batches; anything else (a list
    of batches, a DataLoader) as given."""
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        if data[0].dim() == 4:  # raw aligned tensors (images, maps, labels, ...)
            return tensor_batches(data, batch_size, seed=seed)
    return data


def random_halves(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """NAS's support/query split: a random half of the indices each."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2], perm[n // 2 :]


def batches_by_domain(
    tensors: Sequence[torch.Tensor], domains: Sequence[str], batch_size: int, seed: int = 0
) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Per domain, batches of its own samples only (input of ``DomainSplit``)."""
    out = {}
    for k, d in enumerate(sorted(set(domains))):
        idx = torch.tensor([i for i, x in enumerate(domains) if x == d])
        out[d] = tensor_batches([t[idx] for t in tensors], batch_size, seed=seed + k)
    return out
