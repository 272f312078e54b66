"""Recovering a dead driver's trials from plain files: the newest complete checkpoint per trial,
into the resume area, the experiment folder gone, nothing unpickled."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.jobs import Job
from orchestrator.trials import (
    COMPLETE_FILE,
    RESULT_FILE,
    mark_complete,
    read_checkpoint,
    recover,
    resume_area,
    write_files,
)


def _job(key: str) -> Job:
    return Job(key, "exp", "train_eval", "oulu_npu_p1", "p1", 0, {"theta": 0.7}, key)


def _trial(exp: Path, key: str, checkpoints: dict[str, dict[str, bytes]]) -> None:
    trial = exp / key
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"job": _job(key).to_dict(), "ctx": {}}))
    (trial / "params.pkl").write_bytes(b"a planted pickle: never read")
    for name, files in checkpoints.items():
        (trial / name).mkdir()
        write_files(files, trial / name)


def test_newest_complete_checkpoint_per_trial_goes_to_the_resume_area(tmp_path: Path) -> None:
    exp = tmp_path / "sweep-abc"
    exp.mkdir()
    (exp / "tuner.pkl").write_bytes(b"a planted pickle: never read")
    _trial(exp, "a", {"checkpoint_000000": {"state.pt": b"e1"}})
    _trial(
        exp,
        "b",
        {"checkpoint_000000": {"state.pt": b"e1"}, "checkpoint_000001": {"state.pt": b"e2"}},
    )
    (exp / "b" / "checkpoint_000001" / "state.pt").write_bytes(b"e")  # copied only in part
    _trial(exp, "c", {"checkpoint_000003": {RESULT_FILE: b"{}", "scores.parquet": b"x"}})
    _trial(exp, "d", {})  # started, no checkpoint yet

    found = recover(str(exp))
    assert set(found) == {"a", "b", "c"}
    assert read_checkpoint(found["a"].checkpoint) == {"state.pt": b"e1"}
    assert read_checkpoint(found["b"].checkpoint) == {"state.pt": b"e1"}  # not the partial one
    assert found["c"].finished and not found["a"].finished
    assert found["a"].job == _job("a")
    assert not exp.exists()  # everything useful is in the resume area
    assert Path(resume_area(str(exp))).is_dir()

    # A second attempt died too: "a" checkpointed again, "b" had not started -> "b" keeps its
    # checkpoint from the area, "a" gets the newer one.
    _trial(exp, "a", {"checkpoint_000000": {"state.pt": b"e2"}})
    again = recover(str(exp))
    assert read_checkpoint(again["a"].checkpoint) == {"state.pt": b"e2"}
    assert read_checkpoint(again["b"].checkpoint) == {"state.pt": b"e1"}

    # Once every trial ended, the area goes and nothing is left to recover.
    exp.mkdir()
    mark_complete(str(exp))
    assert (exp / COMPLETE_FILE).exists() and not Path(resume_area(str(exp))).exists()
    assert recover(str(exp)) == {}


def test_nothing_to_recover_from_an_experiment_that_never_ran(tmp_path: Path) -> None:
    assert recover(str(tmp_path / "never")) == {}
