"""A workload resumed from its per-epoch checkpoint ends exactly like an uninterrupted run."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import torch

from synth import SynthSize, generate
from workloads import checkpointing
from workloads.base import WORKLOADS, DataHandle
from workloads.train_eval import seed_everything

#: The workloads as a trial runs them: from its flat config.
train_eval = WORKLOADS.get("train_eval").run_trial
nas_search = WORKLOADS.get("nas_search").run_trial

#: The smoke CDCN ablation trial with augmentation (torch RNG) and a step schedule (lr halves
#: after epoch 2): every piece of state a resume must carry changes the third epoch.
PARAMS = {
    "network": "cdcn",
    "theta": 0.7,
    "width": 0.125,
    "input_size": 32,
    "frames_per_video": 2,
    "representation": "static",
    "rank_k": 7,
    "loss": "depth",
    "epochs": 3,
    "lr": 1e-3,
    "lr_step": 2,
    "weight_decay": 5e-5,
    "batch_size": 16,
    "augment": True,
    "seed": 0,
}


class Killed(Exception):
    """Stands in for a lost worker: the run stops right after a report."""


def _handle(root: Path, cache: Path, **kw) -> DataHandle:
    return DataHandle(root, "oulu_npu_p1", "p1", cache, **kw)


def _interrupted(fn, params: dict, data: DataHandle, after_epoch: float) -> dict:
    """Run ``fn`` with checkpoints until the report of ``after_epoch``; returns its checkpoints
    by epoch (0.0 for a checkpoint between epochs)."""
    saved: dict[float, dict] = {}

    def report(metrics: dict, checkpoint: dict | None = None) -> None:
        epoch = float(metrics.get("epoch", 0.0))
        if checkpoint is not None:
            saved[epoch] = dict(checkpoint)
        if epoch == after_epoch:
            raise Killed

    with pytest.raises(Killed):
        fn(params, data, report)
    return saved


def _same_result(a, b) -> None:
    assert a.metrics == b.metrics  # exact: bit-identical on CPU
    pd.testing.assert_frame_equal(a.scores, b.scores, check_exact=True)
    wa, wb = (torch.load(io.BytesIO(r.artifacts["model.pt"]), weights_only=True) for r in (a, b))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_train_eval_resumed_after_two_epochs_equals_three_uninterrupted(
    smoke_root: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    plain: list[dict] = []
    full = train_eval(PARAMS, _handle(smoke_root, cache), plain.append)  # one-argument report
    assert [m["epoch"] for m in plain] == [1, 2, 3]

    saved = _interrupted(train_eval, PARAMS, _handle(smoke_root, cache, checkpointing=True), 2)
    assert sorted(saved) == [1.0, 2.0]  # checkpoint_every defaults to 1
    assert set(saved[2.0]) == {checkpointing.STATE_FILE}

    seed_everything(12345)  # the resume must restore every RNG, not rely on a fresh process
    resumed_reports: list[dict] = []
    resumed = train_eval(
        PARAMS,
        _handle(smoke_root, cache, resume=saved[2.0], checkpointing=True),
        lambda m, checkpoint=None: resumed_reports.append(m),
    )
    assert [m["epoch"] for m in resumed_reports] == [3]  # epochs 1-2 were not recomputed
    assert resumed_reports[0]["train_loss"] == plain[2]["train_loss"]
    assert resumed_reports[0]["lr"] == plain[2]["lr"] == PARAMS["lr"] / 2
    assert resumed_reports[0]["dev_eer"] == plain[2]["dev_eer"]
    assert resumed.info["resumed_from_epoch"] == 2 and "resumed_from_epoch" not in full.info
    _same_result(resumed, full)

    # Resumed from its last epoch's checkpoint only the evaluation is left.
    last = _interrupted(train_eval, PARAMS, _handle(smoke_root, cache, checkpointing=True), 3)
    after = train_eval(PARAMS, _handle(smoke_root, cache, resume=last[3.0]), plain.append)
    assert len(plain) == 3
    _same_result(after, full)


def test_checkpoint_every_and_unreadable_state(smoke_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    params = {**PARAMS, "epochs": 2, "augment": False, "checkpoint_every": 2}
    saved = _interrupted(train_eval, params, _handle(smoke_root, cache, checkpointing=True), 2)
    assert sorted(saved) == [2.0]
    with pytest.raises(ValueError, match="checkpoint_every"):
        train_eval({**params, "checkpoint_every": "often"}, _handle(smoke_root, cache), print)
    broken = _handle(smoke_root, cache, resume={checkpointing.STATE_FILE: b"not a checkpoint"})
    with pytest.raises(ValueError, match="state.pt"):
        train_eval(params, broken, print)


#: One user per split, two phones, all three sessions, 32 px frames (as test_search_workload).
TINY = SynthSize(1, 1, 1, phones=(1, 2), n_frames=4, frame_size=32)
SEARCH = {
    "space": "autofas",
    "C": 4,
    "layers": 3,
    "input_size": 32,
    "k": 4,
    "search_epochs": 2,
    "warmup_epochs": 1,
    "search_batch_size": 4,
    "w_lr": 1e-3,
    "a_lr": 3e-3,
    "optimizer": "adam",
    "w_schedule": "constant",
    "epochs": 2,
    "lr": 1e-3,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "width": 2.0,
    "frames_per_video": 1,
    "representation": "static",
    "loss": "binary",
    "seed": 0,
}


def test_nas_search_resumes_its_retrain_without_searching_again(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    generate(root, TINY, workers=1)
    data = _handle(root, root / "cache")
    epochs: list[float] = []
    full = nas_search(SEARCH, data, lambda m: epochs.append(m["epoch"]))
    assert epochs == [1.0, 2.0, 3.0, 4.0]  # two search epochs, then the retrain's, shifted

    ckpt = _handle(root, root / "cache", checkpointing=True)
    saved = _interrupted(nas_search, SEARCH, ckpt, after_epoch=3.0)  # first retrain epoch
    # search epoch 1's loop state, the finished search (instead of the last search epoch's
    # state), then retrain epoch 1
    assert sorted(saved) == [0.0, 1.0, 3.0]
    assert set(saved[1.0]) == {checkpointing.SEARCH_STATE_FILE}
    assert set(saved[0.0]) == {checkpointing.SEARCH_FILE}
    assert set(saved[3.0]) == {checkpointing.SEARCH_FILE, checkpointing.STATE_FILE}

    for checkpoint, expected in (
        (saved[3.0], [4.0]),
        (saved[0.0], [3.0, 4.0]),
        (saved[1.0], [2.0, 3.0, 4.0]),  # mid-search: the second search epoch, then the retrain
    ):
        seen: list[float] = []
        resumed = nas_search(
            SEARCH,
            _handle(root, root / "cache", resume=checkpoint),
            lambda m, c=None, seen=seen: seen.append(m["epoch"]),
        )
        assert seen == expected  # no epoch before the checkpoint again
        if checkpoint is saved[1.0]:
            assert resumed.info["search_resumed_from_epoch"] == 1
            assert "resumed_after_search" not in resumed.info
        else:
            assert resumed.info["resumed_after_search"] is True
        assert resumed.info["genotype"] == full.info["genotype"]
        assert resumed.artifacts["arch_trajectory.json"] == full.artifacts["arch_trajectory.json"]
        _same_result(resumed, full)
