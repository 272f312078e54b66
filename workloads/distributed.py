"""Data-parallel training helpers that only use ``torch.distributed`` (no ray, no launcher).

Whoever starts the workers (Ray Train's ``TorchTrainer``, ``torchrun``, a test with
``torch.multiprocessing``) initialises the process group; a workload asks ``is_distributed()``
and otherwise runs exactly as a single process. Every helper is a no-op without a process group.

Batch size: ``batch_size`` in a spec is the *effective* (global) batch. Each of the
``world_size`` workers takes ``batch_size // world_size`` samples per step and DDP averages
their gradients, so one step sees ``batch_size`` samples, as on one device, and the learning
rate needs no rescaling. ``batch_size`` must therefore be divisible by the number of workers.
The train split is sharded as by a ``DistributedSampler``, which pads it (repeating a few
samples) to a multiple of the world size so every worker runs the same number of steps.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from workloads.loading import ShuffledBatches, batch_loader


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 scores dev/test and returns the result; the others only train."""
    return rank() == 0


def worker_device(default: torch.device) -> torch.device:
    """This worker's device: its current CUDA device (the launcher pins one per worker, e.g.
    Ray Train calls ``torch.cuda.set_device``), else ``default``."""
    if is_distributed() and default.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return default


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DDP when distributed (device ids only on CUDA), else ``model`` itself.

    Train through the wrapper; score and save through the plain module (they share parameters),
    so evaluation on rank 0 alone never enters a DDP collective.
    """
    if not is_distributed():
        return model
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def per_worker_batch(batch_size: int) -> int:
    """Samples per worker and step so that one step of all workers sees ``batch_size``."""
    world = world_size()
    if batch_size < world or batch_size % world:
        raise ValueError(
            f"batch_size={batch_size} is the effective batch over {world} workers "
            f"(resources.workers): it must be a multiple of {world}"
        )
    return batch_size // world


def train_loader(
    ds: Dataset,
    batch_size: int,
    generator: torch.Generator,
    seed: int,
    device: torch.device | None = None,
    cpus: int | None = None,
) -> DataLoader:
    """Shuffled training batches (see ``workloads.loading``): on one process the order comes
    from ``generator``; on ``world_size`` workers each takes its shard (seeded by ``seed``,
    reshuffled by ``set_epoch``, as ``DistributedSampler``) with ``batch_size // world_size``
    samples per step. Loader workers, pinning and prefetching follow the trial's ``cpus``."""
    per_step = per_worker_batch(batch_size) if is_distributed() else batch_size
    gen = None if is_distributed() else generator
    sampler = ShuffledBatches(len(ds), per_step, gen, seed, rank(), world_size())
    return batch_loader(ds, sampler, device or torch.device("cpu"), cpus)


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """A new shuffle per epoch, the same on every worker (no-op on one process)."""
    sampler = loader.sampler
    if isinstance(sampler, ShuffledBatches):
        sampler.set_epoch(epoch)


def sum_over_workers(*values: float) -> tuple[float, ...]:
    """Element-wise sums over all workers (e.g. loss total and sample count for a global mean)."""
    if not is_distributed():
        return tuple(float(v) for v in values)
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return tuple(float(v) for v in t.cpu())


def params_digest(model: nn.Module) -> str:
    """A hash of the parameters (not buffers): equal on every DDP replica after training."""
    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def gather(obj: Any) -> list[Any]:
    """Every worker's ``obj``, in rank order, on every worker (``[obj]`` on one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
