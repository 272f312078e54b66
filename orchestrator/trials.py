"""What a trial reads and writes, without Ray: report kinds, checkpoint files, the trial's
context, Tune's experiment folder on any filesystem, and the Optuna space of sampled trials.

The ``orchestrator.backend`` package (the only one that imports ray) drives Tune with these;
keeping them here keeps the Ray modules to the Ray calls and lets the rest be tested without a
cluster.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.fs

from orchestrator.jobs import Job
from workloads.base import CHOICE_PREFIX

FINAL = "final"
ERROR = "error"
#: A report that only saves state between epochs (empty metrics with a checkpoint).
CHECKPOINT = "checkpoint"
#: Files of a Tune checkpoint the backend owns: the final result, the trial's last metrics (so a
#: resumed trial's objective is right) and the list of the checkpoint's files with their sizes
#: (a checkpoint copied only in part is never resumed from); workload files must not use these.
RESULT_FILE, TRIAL_FILE, MANIFEST_FILE = "result.json", "trial.json", "files.json"
#: The trial context's key for recovered trials: run key -> checkpoint (resume area folder/URI).
RESUME_KEY = "resume"
#: How often (seconds) the driver saves Tune's experiment state: what a killed driver's restore
#: sees. Tune's default ("auto", at least 10 s) would rerun more of what finished just before.
STATE_SAVE_SECONDS = "5"
#: Written into an experiment's directory when every trial ended (finished or an application
#: failure): nothing there is left to restore, the next run starts a new experiment.
COMPLETE_FILE = "orchestrator-complete"
#: Ray's resource that only the head node has (a node-affinity label Ray itself uses so).
HEAD_RESOURCE = "node:__internal_head__"
#: What a multi-worker trial's Tune function reserves: it only drives and waits for its Train
#: workers (which reserve the spec's cpu/gpu each), so no CPU -- a fractional CPU would make
#: N workers x 1 CPU unschedulable on an N-CPU machine -- and a little memory, because Tune
#: needs a non-empty request. It runs on the head (with its Train controller, which Ray Train
#: places beside it): a lost worker node then takes Train workers only, and the controller
#: releases their reservation before Tune retries the trial. A driver lost with a worker node
#: would take its controller along and leave the workers' placement group reserved (it lives
#: as long as the job), so the retry could never schedule its workers.
DRIVER_RESOURCES = {"cpu": 0.0, "memory": 256 * 1024**2, HEAD_RESOURCE: 0.001}


#: Test pacing (never set in production): a folder where each trial, after each checkpointed
#: epoch, writes ``<run_key>.<epoch>.reached`` and waits until the test writes
#: ``<run_key>.<epoch>.go`` or ``go``. A test then controls exactly where a sweep stands when it
#: kills or interrupts it, however fast or slow the machine is.
GATE_ENV = "FAS_TRIAL_GATE"


def gate(run_key: str, epoch: int) -> None:
    """Wait at ``GATE_ENV``'s gate after epoch ``epoch`` of trial ``run_key`` (no-op unset)."""
    folder = os.environ.get(GATE_ENV)
    if not folder:
        return
    root = Path(folder)
    (root / f"{run_key}.{epoch}.reached").touch()
    while not ((root / "go").exists() or (root / f"{run_key}.{epoch}.go").exists()):
        time.sleep(0.05)  # polls for the test's release; the pace is the test's, not a timer's


def objective(metrics: Mapping[str, float]) -> float:
    """What a sampler minimises, from a trial's latest metrics: its dev EER (a sampler learns
    from dev only: the test split never steers a search); NaN before one was reported."""
    return float(metrics.get("dev_eer", float("nan")))


def write_result(result, out: Path, node_id: str) -> None:
    """A trial's final result as files: ``scores.parquet``, the artifacts, ``result.json``."""
    scores = io.BytesIO()
    result.scores.to_parquet(scores, index=False)
    info = {"metrics": result.metrics, "info": {**result.info, "node_id": node_id}}
    files = {
        "scores.parquet": scores.getvalue(),
        **result.artifacts,
        RESULT_FILE: json.dumps(info, default=str, indent=1).encode(),
    }
    write_files(files, out)


def read_files(path: Path | str) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in Path(path).iterdir() if p.is_file()}
    files.pop(MANIFEST_FILE, None)
    return files


def write_files(files: Mapping[str, bytes], path: Path | str) -> None:
    """Files into a checkpoint folder, with the manifest that lets a recovery check them."""
    sizes = {name: len(blob) for name, blob in files.items()}
    for name, blob in {**files, MANIFEST_FILE: json.dumps(sizes).encode()}.items():
        (Path(path) / name).write_bytes(blob)


def job_of(config: Mapping[str, Any]) -> Job:
    """The job a trial runs: the grid job, or the template filled with a sampler's choices."""
    job = Job.from_dict(config["job"])
    sample = {k: v for k, v in config.items() if k.startswith(CHOICE_PREFIX)}
    return job.with_sample(sample) if sample else job


def trial_ctx(
    ctx: dict[str, Any], resources: Mapping[str, float], storage_path: str | None
) -> dict[str, Any]:
    """What a trial knows of its resources: threads per process, and for a multi-worker trial
    the per-worker cpu/gpu, the worker count and the storage its Train run shares with Tune."""
    cpu, gpu = float(resources.get("cpu", 1)), float(resources.get("gpu", 0))
    out = {**ctx, "threads": max(1, cpu), "cpu": cpu, "gpu": gpu}
    workers = int(resources.get("workers", 1))
    if workers > 1:
        out.update({"workers": workers, "storage_path": storage_path})
    return out


def train_run_name(experiment: str, run_key: str, trial_id: str) -> str:
    """A Train run's name under the Tuner's storage path: stable across Tune's retries of the
    trial (same trial id), so a retried trial finds the run's checkpoints; never a timestamp."""
    return f"{experiment}_{run_key}_{trial_id}"


def train_slots(
    now: Mapping[str, float], most: Mapping[str, float], cpu: float, gpu: float, workers: int
) -> int | None:
    """How many multi-worker trials fit the cluster at once (Tune's ``max_concurrent_trials``),
    from its current resources and the autoscaler's maximum (``most``, empty when fixed):
    drivers reserve no CPU, so Tune would otherwise start every trial's driver at once."""
    slots = [
        int(max(float(now.get(name, 0)), float(most.get(name, 0))) // (per * workers))
        for name, per in (("CPU", cpu), ("GPU", gpu))
        if per > 0
    ]
    return max(1, min(slots)) if slots else None


def _fs(experiment_dir: str):
    """(pyarrow filesystem, path) of a Tune experiment folder: a local folder or a URI (s3://)."""
    return pyarrow.fs.FileSystem.from_uri(experiment_dir)


def forget(experiment_dir: str) -> None:
    """Delete a Tune experiment's state and checkpoints, if any."""
    fs, path = _fs(experiment_dir)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(path)


def mark_complete(experiment_dir: str) -> None:
    """Every trial ended: nothing is left to recover (the resume area goes too)."""
    fs, path = _fs(experiment_dir)
    with fs.open_output_stream(f"{path}/{COMPLETE_FILE}") as out:
        out.write(b"every trial ended\n")
    forget(resume_area(experiment_dir))


def is_complete(experiment_dir: str) -> bool:
    fs, path = _fs(experiment_dir)
    return fs.get_file_info(f"{path}/{COMPLETE_FILE}").type != pyarrow.fs.FileType.NotFound


class DefineByRun:
    """Optuna's define-by-run space: one categorical per choice; the job rides along as constants
    (a class, not a closure, because Tune pickles its searcher)."""

    def __init__(self, choices: dict[str, list], constants: dict[str, Any]) -> None:
        self.choices, self.constants = choices, constants

    def __call__(self, trial) -> dict[str, Any]:
        for key, options in self.choices.items():
            trial.suggest_categorical(CHOICE_PREFIX + key, list(options))
        return self.constants


# --- recovery after a dead driver: read back, never unpickle ----------------------------------
#
# Tune's own restore (``Tuner.restore``) unpickles ``tuner.pkl`` and the experiment state from
# the storage path: whoever can write there could run code in the driver. A killed driver's work
# is instead recovered from plain files: each trial folder's ``params.json`` (JSON) and its
# newest complete checkpoint (the workload's files, loaded with ``torch.load(weights_only=True)``;
# JSON; parquet). They are copied to the experiment's resume area, ``<experiment>.resume/<key>``
# (with ``<key>.json``, the trial's config), which outlives the next attempt's experiment folder
# and goes once every trial of the stage ended.


@dataclass(frozen=True)
class Recovered:
    """A dead driver's trial: its config, where its newest complete checkpoint now is, and
    whether that checkpoint is its final result."""

    config: dict[str, Any]
    checkpoint: str
    finished: bool

    @property
    def job(self) -> Job:
        return job_of(self.config)


def resume_area(experiment_dir: str) -> str:
    return f"{experiment_dir.rstrip('/')}.resume"


def _read(fs, path: str) -> bytes | None:
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def _listing(fs, path: str) -> list:
    try:
        return fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    except (FileNotFoundError, OSError):
        return []


def _complete(fs, path: str) -> bool:
    """Every file the checkpoint's manifest lists is there with its size."""
    blob = _read(fs, f"{path}/{MANIFEST_FILE}")
    try:
        manifest = json.loads(blob) if blob is not None else None
    except ValueError:
        return False
    if not isinstance(manifest, dict):
        return False
    sizes = {info.base_name: info.size for info in _listing(fs, path)}
    return all(sizes.get(name) == size for name, size in manifest.items())


def _newest_complete(fs, trial_dir: str) -> str | None:
    names = [
        i.base_name for i in _listing(fs, trial_dir) if i.type == pyarrow.fs.FileType.Directory
    ]
    for name in sorted((n for n in names if n.startswith("checkpoint_")), reverse=True):
        if _complete(fs, f"{trial_dir}/{name}"):
            return f"{trial_dir}/{name}"
    return None


def _train_runs(fs, experiment: str, key: str) -> list[str]:
    root, name = experiment.rsplit("/", 1)
    return [
        i.path
        for i in _listing(fs, root)
        if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(f"{name}_{key}_")
    ]


def _newest_train_checkpoint(fs, experiment: str, key: str) -> str | None:
    """A data-parallel trial's newest complete checkpoint: its workers report to their Train
    runs (``train_run_name``), folders beside the Tune experiment's, one per Tune trial id."""
    found = [c for c in map(partial(_newest_complete, fs), _train_runs(fs, experiment, key)) if c]
    return max(found, key=lambda c: c.rsplit("/", 1)[1]) if found else None


def _replace_dir(fs, src: str, dst: str) -> None:
    if fs.get_file_info(dst).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(dst)
    fs.create_dir(dst)
    pyarrow.fs.copy_files(src, dst, source_filesystem=fs, destination_filesystem=fs)


def recover(experiment_dir: str) -> dict[str, Recovered]:
    """Run key -> what a dead driver's trials of this experiment left (see above); the folder
    itself is deleted once its checkpoints are safe in the resume area. Empty when the
    experiment ended or never ran."""
    fs, path = _fs(experiment_dir)
    _, area = _fs(resume_area(experiment_dir))
    if is_complete(experiment_dir):
        return {}
    for info in _listing(fs, path):  # the newest checkpoint of each trial -> the resume area
        params = _read(fs, f"{info.path}/params.json")
        if info.type != pyarrow.fs.FileType.Directory or params is None:
            continue
        config = json.loads(params)
        config.get("ctx", {}).pop(RESUME_KEY, None)  # the next attempt has its own
        key = job_of(config).run_key
        newest = _newest_complete(fs, info.path) or _newest_train_checkpoint(fs, path, key)
        if newest is None:
            continue  # no checkpoint of its own: its earlier one (if any) stays in the area
        _replace_dir(fs, newest, f"{area}/{key}")
        with fs.open_output_stream(f"{area}/{key}.json") as out:
            out.write(json.dumps(config).encode())
        for run in _train_runs(fs, path, key):  # a data-parallel trial's: copied, not needed
            fs.delete_dir(run)
    forget(experiment_dir)
    found = {}
    for info in _listing(fs, area):
        if not info.base_name.endswith(".json"):
            continue
        key = info.base_name[: -len(".json")]
        ckpt = f"{area}/{key}"
        if _complete(fs, ckpt):
            config = json.loads(_read(fs, info.path) or b"{}")
            names = {i.base_name for i in _listing(fs, ckpt)}
            where = ckpt if "://" not in experiment_dir else resume_area(experiment_dir) + "/" + key
            found[key] = Recovered(config, where, RESULT_FILE in names)
    return found


def read_checkpoint(location: str) -> dict[str, bytes]:
    """A recovered checkpoint's files (a local folder or a URI), manifest left out."""
    fs, path = _fs(location)
    files = {}
    for info in _listing(fs, path):
        if info.type == pyarrow.fs.FileType.File and info.base_name != MANIFEST_FILE:
            files[info.base_name] = _read(fs, info.path) or b""
    return files


@contextlib.contextmanager
def local_checkpoint(location: str) -> Iterator[Path]:
    """A recovered checkpoint as a local folder (copied when it lives on S3 or GCS)."""
    if "://" not in location:
        yield Path(location)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_files(read_checkpoint(location), tmp)
        yield Path(tmp)
