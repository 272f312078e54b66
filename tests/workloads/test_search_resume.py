"""A search process killed after epoch k resumes from its checkpoint and ends exactly like an
uninterrupted search: same genotype, same architecture (and supernet) weights, bit-identical on CPU.

The interrupted search runs in a subprocess with checkpointing on; its ``report`` writes each
checkpoint to a folder and, after epoch k's, blocks on an event nobody sets. The test waits for
that folder, then SIGKILLs the process: a real kill at a point the test controls, no timer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from synth import SynthSize, generate
from workloads.base import DataHandle
from workloads.params import parse
from workloads.search import run_search
from workloads.search_params import SearchParams

REPO = Path(__file__).resolve().parents[2]
#: One user per split, two phones (the meta split's two domains), 32 px frames cut to 16 px.
TINY = SynthSize(1, 1, 1, phones=(1, 2), n_frames=4, frame_size=32)
EPOCHS, KILL_AFTER = 3, 1
SEARCH = {
    "space": "autofas",
    "C": 4,
    "layers": 3,
    "input_size": 16,
    "k": 4,
    "search_epochs": EPOCHS,
    "warmup_epochs": 1,  # the kill falls at the end of the warm-up: the next epoch unfreezes
    "search_batch_size": 4,
    "w_lr": 1e-2,
    "a_lr": 3e-2,
    "optimizer": "sgd",
    "w_schedule": "cosine",
    "frames_per_video": 1,
    "representation": "static",
    "loss": "binary",
    "seed": 3,
}
VARIANTS = {
    "pcdarts_first_order": {},
    "pcdarts_second_order": {"unrolled": True},
    "d_meta_nas": {"split": "meta_domain", "domain_key": "device", "optimizer": "adam"},
}

#: The interrupted search: saves every checkpoint under OUT/epoch_<n>, then hangs after epoch k.
CHILD = """
import json, sys, threading
from pathlib import Path
import torch
torch.set_num_threads(1)
from workloads.base import DataHandle
from workloads.params import parse
from workloads.search import run_search
from workloads.search_params import SearchParams

params, root, out, hold = json.loads(sys.argv[1])
root, out = Path(root), Path(out)

def report(metrics, checkpoint=None):
    if checkpoint is None:
        return
    epoch = int(metrics["epoch"])
    tmp = out / f".partial_{epoch}"
    tmp.mkdir()
    for name, blob in checkpoint.items():
        (tmp / name).write_bytes(blob)
    tmp.rename(out / f"epoch_{epoch}")  # atomic: the test sees a complete checkpoint or none
    if epoch == hold:
        threading.Event().wait()  # never set: killed here

data = DataHandle(root, "oulu_npu_p1", "p1", root / "cache", checkpointing=True)
run_search(parse(SearchParams, params), data, report)
raise SystemExit("the search finished: it should have been killed")
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_search")
    generate(root, TINY, workers=1)
    return root


def _start(params: dict, root: Path, out: Path, epoch: int) -> subprocess.Popen:
    """The search in a subprocess that hangs after writing epoch ``epoch``'s checkpoint."""
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    arg = json.dumps([params, str(root), str(out), epoch])
    with (out.parent / "child.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, arg],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_after(proc: subprocess.Popen, out: Path, epoch: int) -> dict[str, bytes]:
    """SIGKILL the search once epoch ``epoch``'s checkpoint is written; that checkpoint."""
    try:
        while not (out / f"epoch_{epoch}").is_dir():
            if proc.poll() is not None:
                pytest.fail((out.parent / "child.log").read_text()[-3000:])
            time.sleep(0.05)  # polls for the event; the pace is the child's
        assert proc.poll() is None  # alive, held inside the report of epoch k
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in out.iterdir()) == [f"epoch_{e}" for e in range(1, epoch + 1)]
    return {p.name: p.read_bytes() for p in (out / f"epoch_{epoch}").iterdir()}


def _without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if "time_" not in k} for h in history]


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")  # 3 tiny epochs
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_killed_search_resumes_to_the_uninterrupted_result(
    variant: str, root: Path, tmp_path: Path
) -> None:
    params = {**SEARCH, **VARIANTS[variant]}
    cache = root / "cache"
    out = tmp_path / "checkpoints"
    proc = _start(params, root, out, KILL_AFTER)
    full_reports: list[dict] = []  # the uninterrupted search, meanwhile
    data = DataHandle(root, "oulu_npu_p1", "p1", cache)
    full, *_ = run_search(parse(SearchParams, params), data, full_reports.append)
    assert [m["epoch"] for m in full_reports] == [float(e) for e in range(1, EPOCHS + 1)]
    saved = _kill_after(proc, out, KILL_AFTER)

    torch.manual_seed(12345)  # the resume must restore every RNG, not rely on this process
    resumed_reports: list[dict] = []
    resumed, _, info, _ = run_search(
        parse(SearchParams, params),
        DataHandle(root, "oulu_npu_p1", "p1", cache, resume=saved, checkpointing=True),
        lambda m, checkpoint=None: resumed_reports.append(m),
    )
    # only the epochs after the kill ran again, with the uninterrupted run's numbers
    assert [m["epoch"] for m in resumed_reports] == [float(e) for e in range(2, EPOCHS + 1)]
    assert _without_timings(resumed_reports) == _without_timings(full_reports[KILL_AFTER:])
    assert info["search_resumed_from_epoch"] == KILL_AFTER

    assert resumed.result.genotype == full.result.genotype
    assert resumed.result.trajectory == full.result.trajectory
    assert _without_timings(resumed.result.history) == _without_timings(full.result.history)
    arch = list(zip(resumed.model.arch_parameters(), full.model.arch_parameters(), strict=True))
    assert arch and all(torch.equal(a, b) for a, b in arch)  # alphas and betas, bit for bit
    got, want = resumed.model.state_dict(), full.model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
