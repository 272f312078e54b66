"""``orchestrate plan``: what an experiment will cost before it runs -- its trials and epochs, the
GPU-hours, the wall time on N GPUs and the frame cache's size.

The trials are the runner's own: the protocol's folds (``runner.fold_manifest``), the jobs
(``jobs.expand_jobs``) and the sampled stages (``runner.sampling_plan``), so the plan counts what
``orchestrate run`` schedules. Each trial's seconds come from the throughput of its networks
(``plan_bench``: measured on this device, or stated) times the frames it reads:

* a training epoch reads the fold's train frames (videos x ``frames_per_video``) and scores
  its dev frames; the test frames are scored once;
* a search epoch takes ``min(search_steps, train frames / 2 / search batch)`` steps (the
  support/query halves), each a weight step and an architecture step on a batch;
* every trial adds ``TRIAL_OVERHEAD_S`` (actor start, result plumbing, MLflow writes).

The wall time packs the trials onto the slots the cluster offers (``slots``): Ray Tune starts
trials in order whenever a slot frees, one stage at a time (the grid's trials, then each sampled
stage), which is greedy list scheduling (``makespan``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Seconds per trial besides its compute: actor start, result plumbing, MLflow writes (1.1-1.3 s
#: measured at the smoke preset on 2 cores).
TRIAL_OVERHEAD_S = 1.2
#: A stage's fixed cost (Tune's controller, the first actors, the final sync): a stage of one
#: 0 s trial took 10.3 s on a simulated 2-node cluster on 2 shared cores (bench/bench_plan.py).
STAGE_OVERHEAD_S = 10.0


@dataclass(frozen=True)
class Speed:
    """A network's throughput on one device: images/s of training steps and of scoring."""

    train_ips: float
    eval_ips: float


@dataclass(frozen=True)
class TrialWork:
    """One planned trial: its stage, what it reads and the networks (cost keys) it runs."""

    label: str
    stage: str
    workload: str
    fold: str
    group: str
    epochs: int
    train_frames: int
    dev_frames: int
    test_frames: int
    train_net: str
    search_net: str = ""
    search_epochs: int = 0
    search_steps: int = 0
    search_batch: int = 0

    def seconds(self, speeds: Mapping[str, Speed], overhead: float = TRIAL_OVERHEAD_S) -> float:
        net = speeds[self.train_net]
        epoch = self.train_frames / net.train_ips + self.dev_frames / net.eval_ips
        total = self.epochs * epoch + self.test_frames / net.eval_ips + overhead
        if self.search_net:
            step = 2 * self.search_batch / speeds[self.search_net].train_ips
            total += self.search_epochs * self.search_steps * step
        return total


def search_steps_per_epoch(train_frames: int, batch: int, cap: int | None) -> int:
    """Steps of a search epoch: the shorter half's batches (the splitters'), at most ``cap``."""
    steps = max(1, (train_frames // 2) // max(1, batch))
    return min(steps, cap) if cap else steps


def makespan(durations: Sequence[float], slots: int) -> float:
    """Greedy list scheduling: each trial, in order, starts on the slot that frees first."""
    if not durations:
        return 0.0
    free = [0.0] * max(1, min(slots, len(durations)))
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def stage_walls(
    stages: Mapping[str, Sequence[float]], slots: int, stage_overhead: float = STAGE_OVERHEAD_S
) -> dict[str, float]:
    """Each stage's wall: its trials packed onto ``slots``; stages run one after another."""
    return {name: makespan(d, slots) + stage_overhead for name, d in stages.items() if d}


def slots(resources: Mapping[str, float], gpus: int, cpus: int) -> int:
    """How many trials run at once: GPUs per trial (times its workers) out of ``gpus``, or, for
    CPU-only trials, CPUs per trial out of ``cpus``."""
    workers = int(resources.get("workers", 1))
    gpu, cpu = float(resources.get("gpu", 0)), float(resources.get("cpu", 1))
    if gpu > 0:
        return max(1, math.floor(gpus / (gpu * workers) + 1e-9))
    return max(1, math.floor(cpus / (cpu * workers) + 1e-9))


def cache_bytes(configs: Iterable[Any], n_videos: int) -> int:
    """The frame cache, uncompressed: per pipeline setting and video, uint8 frames (F, 3, S, S)
    and float32 maps (F, m, m)."""
    per_video = sum(c.frames_per_video * (3 * c.input_size**2 + 4 * c.map_size**2) for c in configs)
    return per_video * n_videos


@dataclass
class Plan:
    """An experiment's plan; ``to_dict`` is ``orchestrate plan --json``."""

    experiment: str
    preset: str
    protocol: str
    folds: list[str]
    videos: int
    data: str
    jobs: dict[str, int]
    trials: list[TrialWork]
    speeds: dict[str, Speed]
    measured: dict[str, str]
    resources: dict[str, float]
    gpus: int
    slots: int
    cache_bytes: int
    overhead: float = TRIAL_OVERHEAD_S
    walls: dict[str, float] = field(default_factory=dict)

    def seconds(self) -> list[float]:
        return [t.seconds(self.speeds, self.overhead) for t in self.trials]

    def schedule(self) -> None:
        stages: dict[str, list[float]] = {}
        for trial, s in zip(self.trials, self.seconds(), strict=True):
            stages.setdefault(trial.stage, []).append(s)
        self.walls = stage_walls(stages, self.slots)

    @property
    def gpu_hours(self) -> float:
        per = float(self.resources.get("gpu", 0)) * int(self.resources.get("workers", 1))
        return sum(self.seconds()) * per / 3600

    def groups(self) -> list[dict[str, Any]]:
        """One row per kind of trial (workload and network settings)."""
        rows: dict[str, dict[str, Any]] = {}
        for trial, s in zip(self.trials, self.seconds(), strict=True):
            row = rows.setdefault(
                trial.group,
                {
                    "group": trial.group,
                    "workload": trial.workload,
                    "trials": 0,
                    "epochs": trial.epochs,
                    "search_epochs": trial.search_epochs,
                    "search_steps": trial.search_steps,
                    "train_frames": trial.train_frames,
                    "seconds": 0.0,
                },
            )
            row["trials"] += 1
            row["seconds"] += s
        return list(rows.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "preset": self.preset,
            "protocol": self.protocol,
            "folds": self.folds,
            "videos": self.videos,
            "data": self.data,
            "jobs": self.jobs,
            "trials": len(self.trials),
            "epochs": sum(t.epochs for t in self.trials),
            "search_epochs": sum(t.search_epochs for t in self.trials),
            "search_steps": sum(t.search_epochs * t.search_steps for t in self.trials),
            "groups": self.groups(),
            "throughput": {k: vars(v) for k, v in self.speeds.items()},
            "measured": self.measured,
            "resources": self.resources,
            "gpus": self.gpus,
            "concurrent_trials": self.slots,
            "trial_seconds": sum(self.seconds()),
            "gpu_hours": self.gpu_hours,
            "stage_wall_seconds": self.walls,
            "wall_seconds": sum(self.walls.values()),
            "cache_bytes": self.cache_bytes,
        }


class _NoRuns:
    """A tracker that holds nothing: the plan of a first run (``sampling_plan`` asks it)."""

    def child_runs(self) -> pd.DataFrame:
        return pd.DataFrame()


def planned_jobs(spec, folds: list[str], manifest: pd.DataFrame):
    """The runner's trials for a first run: the grid's jobs, and per sampling template its
    samples (``(template, n)``)."""
    from orchestrator.jobs import expand_jobs
    from orchestrator.runner import sampling_plan

    jobs = expand_jobs(spec, folds, fingerprint="plan")
    templates = [(t, n) for t, n, _ in sampling_plan(spec, jobs, _NoRuns(), fresh=True)]
    return jobs, templates


def fold_frames(protocol: str, root, folds: list[str]) -> dict[str, tuple[int, int, int]]:
    """Videos per fold: (train, dev, test)."""
    from protocols.protocols import PROTOCOLS

    out = {}
    for fold in PROTOCOLS.get(protocol).folds(root):
        if fold.name in folds:
            out[fold.name] = (len(fold.train), len(fold.dev), len(fold.test))
    return out


Measure = Callable[[str, Any], Speed]
