"""The workload's data-parallel path without ray: two gloo processes (torch.multiprocessing) that
each train a DDP replica on half of every batch end exactly where one process ends after
full-batch training on the same data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset

from workloads import distributed
from workloads.train_eval import train_epoch

N, SIZE, MAP, EPOCHS, LR = 12, 8, 2, 3, 0.05


class _Frames(Dataset):
    """Frame-shaped samples like ``FrameDataset``: (image, map, label, video index)."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(7)
        self.images = torch.rand(N, 3, SIZE, SIZE, generator=g)
        self.maps = torch.rand(N, MAP, MAP, generator=g)
        self.labels = torch.randint(0, 2, (N,), generator=g)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int):
        return self.images[i], self.maps[i], self.labels[i], torch.tensor(i)


class _TinyMapNet(nn.Module):
    """A map head without BatchNorm: per-worker batch statistics would differ from full-batch
    ones, and the test is about gradient averaging."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 1, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def _train(batch_size: int) -> dict:
    """The train_eval loop's pieces: seeded model, loader, DDP wrapper, Adam, ``train_epoch``."""
    torch.manual_seed(0)
    model = _TinyMapNet()
    device = distributed.worker_device(torch.device("cpu"))
    loader = distributed.train_loader(_Frames(), batch_size, torch.Generator().manual_seed(0), 0)
    trainer = distributed.wrap_model(model, device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses, seen = [], 0
    for epoch in range(1, EPOCHS + 1):
        distributed.set_epoch(loader, epoch)
        loss, n = train_epoch(trainer, loader, opt, "binary", device, epoch)
        losses.append(loss)
        seen += n
    return {
        "losses": losses,
        "seen": seen,
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "digests": distributed.gather(distributed.params_digest(model)),
        "rank": distributed.rank(),
        "world": distributed.world_size(),
    }


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        result = _train(batch_size=N)  # one full batch per step: N // world samples per worker
        try:
            distributed.per_worker_batch(N + 1)
            result["odd_batch_error"] = ""
        except ValueError as exc:
            result["odd_batch_error"] = str(exc)
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_workers_match_single_process_full_batch(tmp_path: Path) -> None:
    # Forked workers start in milliseconds (spawned ones would re-import the workload stack).
    args = (2, str(tmp_path / "init"), str(tmp_path))
    mp.start_processes(_worker, args=args, nprocs=2, join=True, start_method="fork")
    single = _train(batch_size=N)  # no process group: the plain single-process path
    assert single["world"] == 1 and single["seen"] == N * EPOCHS
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    for r, out in enumerate(ranks):
        assert out["rank"] == r and out["world"] == 2
        assert out["seen"] == N // 2 * EPOCHS  # each worker saw its half of every epoch
        # The reported loss is the mean over both workers' samples: the full-batch loss.
        assert out["losses"] == pytest.approx(single["losses"], rel=1e-5, abs=1e-6)
        for name, p in single["params"].items():
            torch.testing.assert_close(out["params"][name], p, rtol=1e-5, atol=1e-6)
        assert "multiple of 2" in out["odd_batch_error"]
        assert "resources.workers" in out["odd_batch_error"]
    assert ranks[0]["digests"] == ranks[1]["digests"]  # replicas hold identical weights
    assert len(set(ranks[0]["digests"])) == 1
    # Training moved the weights (a vacuous equality of untouched weights would not count).
    torch.manual_seed(0)
    init = dict(_TinyMapNet().named_parameters())
    assert any(not torch.allclose(init[k], v) for k, v in single["params"].items())


def test_helpers_are_no_ops_without_a_process_group() -> None:
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.sum_over_workers(3.0, 4) == (3.0, 4.0)
    assert distributed.gather({"a": 1}) == [{"a": 1}]
    assert distributed.per_worker_batch(5) == 5
    model = _TinyMapNet()
    assert distributed.wrap_model(model, torch.device("cpu")) is model
    loader = distributed.train_loader(_Frames(), 4, torch.Generator().manual_seed(0), 0)
    assert loader.sampler.batch_size == 4 and len(loader) == N // 4
