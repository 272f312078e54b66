"""What a planned trial runs and how fast: its networks, read from its typed params, and their
throughput, from a few timed training steps on this device or from a stated rate.

A trial's networks: ``train_eval`` trains its network; ``nas_search`` searches a supernet and
retrains the genotype it derives (the plan times a genotype sampled from the same space, whose
cost is of the same order); ``random_sample`` retrains a sampled genotype. They are looked up
by the params' type (``NETWORKS_OF``), so a new workload with new params adds one entry.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from orchestrator.jobs import Job, stable_hash
from orchestrator.plan import Speed, TrialWork, search_steps_per_epoch
from search_spaces.genotypes import sample_genotype
from search_spaces.supernet import build_supernet
from workloads.base import WORKLOADS
from workloads.search import search_config
from workloads.search_params import (
    RandomSampleParams,
    SearchParams,
    retrain_params,
    retrain_settings,
    space_from_params,
)
from workloads.train_eval import build_model, device_for_trial
from workloads.train_params import TrainEvalParams

#: A forward pass costs about a third of a training step (forward and backward): the scoring
#: rate assumed from a stated ``--images-per-s``.
EVAL_SPEEDUP = 3.0
#: Params that decide what a network costs per image (the rest -- seeds, learning rates, theta
#: and gamma, epochs -- do not): trials equal in these share one measurement.
COST_FIELDS = (
    "network", "width", "input_size", "batch_size", "loss", "C", "layers", "space", "k",
    "search_batch_size", "head", "pooling", "attention", "op_space", "n_nodes", "ops", "ratios",
    "stem_multiplier", "genotype", "space_overrides",
)  # fmt: skip


@dataclass(frozen=True)
class Net:
    """A network a trial trains: how to build it, its batch and input size."""

    key: str
    build: Callable[[], nn.Module]
    batch: int
    input_size: int
    about: str


@dataclass(frozen=True)
class TrialNets:
    train: Net
    epochs: int
    search: Net | None = None
    search_epochs: int = 0
    search_cap: int | None = None


def _cost_key(role: str, params: Any) -> str:
    d = dataclasses.asdict(params)
    return f"{role}-" + stable_hash({k: d.get(k) for k in COST_FIELDS})[:10]


def _train_net(role: str, p: TrainEvalParams) -> Net:
    about = f"{p.network} w={p.width}" if p.network != "genotype" else f"genotype w={p.width}"
    return Net(_cost_key(role, p), lambda: build_model(p), p.batch_size, p.input_size, about)


def _train_eval(p: TrainEvalParams) -> TrialNets:
    return TrialNets(_train_net("train", p), p.epochs)


def _proxy_retrain(p: SearchParams) -> TrainEvalParams:
    """The retrain of a genotype sampled from the trial's space (the searched one is unknown)."""
    return retrain_params(sample_genotype(space_from_params(p), 0), p)


def _nas_search(p: SearchParams) -> TrialNets:
    space = space_from_params(p)
    settings = retrain_settings(p, space)
    cfg = search_config(p, space)
    depth = cfg.loss == "depth"
    search = Net(
        _cost_key("search", p),
        lambda: build_supernet(space, k=p.k, depth_head=depth),
        p.search_batch_size,
        settings.input_size,
        f"supernet {space.name} C={space.C} L={space.layers} K={p.k}",
    )
    retrain = _proxy_retrain(p)
    return TrialNets(
        _train_net("retrain", retrain), retrain.epochs, search, cfg.epochs, cfg.max_steps_per_epoch
    )


def _random_sample(p: RandomSampleParams) -> TrialNets:
    retrain = _proxy_retrain(p)
    return TrialNets(_train_net("retrain", retrain), retrain.epochs)


NETWORKS_OF: dict[type, Callable[[Any], TrialNets]] = {
    TrainEvalParams: _train_eval,
    SearchParams: _nas_search,
    RandomSampleParams: _random_sample,
}


def trial_nets(job: Job) -> TrialNets:
    params = WORKLOADS.get(job.workload).parse(job.params)
    for cls in type(params).__mro__:  # the most specific params type first
        if cls in NETWORKS_OF:
            return NETWORKS_OF[cls](params)
    raise ValueError(f"workload {job.workload!r}: the plan knows no networks of {type(params)}")


def trial_work(
    job: Job, stage: str, videos: tuple[int, int, int], nets: TrialNets, fpv: int
) -> TrialWork:
    """A planned trial from its job, its fold's (train, dev, test) videos and its networks."""
    train, dev, test = (n * fpv for n in videos)
    search = nets.search
    group = f"{job.workload}: {search.about + ' + ' if search else ''}{nets.train.about}"
    return TrialWork(
        label=job.label,
        stage=stage,
        workload=job.workload,
        fold=job.fold,
        group=f"{group}, {nets.train.input_size} px",
        epochs=nets.epochs,
        train_frames=train,
        dev_frames=dev,
        test_frames=test,
        train_net=nets.train.key,
        search_net=search.key if search else "",
        search_epochs=nets.search_epochs if search else 0,
        search_steps=search_steps_per_epoch(train, search.batch, nets.search_cap) if search else 0,
        search_batch=search.batch if search else 0,
    )


def stated(images_per_s: float) -> Speed:
    return Speed(images_per_s, images_per_s * EVAL_SPEEDUP)


def _fastest(step: Callable[[], None], steps: int, sync: Callable[[], None]) -> float:
    """The fastest of ``steps`` timed calls (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(net: Net, steps: int = 2, step_seconds: float | None = 2.0) -> tuple[Speed, str]:
    """Time ``steps`` training steps (Adam, after an untimed one) and scoring passes of the
    network at its batch and input size. On a CPU the batch shrinks so that a step takes about
    ``step_seconds`` (a paper-size network would take minutes a step); throughput is per image."""
    device = device_for_trial()
    model = net.build().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def batch_of(n: int) -> torch.Tensor:
        return torch.rand(n, 3, net.input_size, net.input_size, device=device)

    def train_step(x: torch.Tensor) -> None:
        loss = model(x).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    batch = net.batch
    if device.type != "cuda" and step_seconds:
        one = batch_of(1)
        train_step(one)  # the first step pays one-off costs (allocations, kernel choice)
        first = _fastest(lambda: train_step(one), 1, sync)
        batch = max(1, min(net.batch, int(step_seconds / max(first, 1e-6))))
    x = batch_of(batch)
    train_step(x)
    train_s = _fastest(lambda: train_step(x), steps, sync)
    model.eval()
    with torch.no_grad():
        model(x)
        eval_s = _fastest(lambda: model(x), steps, sync)
    where = f"{device.type}, batch {batch}" + (f" of {net.batch}" if batch != net.batch else "")
    return Speed(batch / train_s, batch / eval_s), f"{net.about}, {net.input_size} px ({where})"


def speeds_of(
    nets: Mapping[str, Net], images_per_s: float | None, steps: int, step_seconds: float | None
) -> tuple[dict[str, Speed], dict[str, str]]:
    """Each distinct network's speed: stated, else measured here (once per cost key)."""
    speeds, measured = {}, {}
    for key, net in nets.items():
        if images_per_s:
            speeds[key], measured[key] = stated(images_per_s), f"{net.about}: stated"
        else:
            speeds[key], measured[key] = measure(net, steps, step_seconds)
    return speeds, measured


def build_plan(
    spec,
    root,
    data: str,
    gpus: int,
    cpus: int,
    images_per_s: float | None = None,
    steps: int = 2,
    step_seconds: float | None = 2.0,
):
    """The plan of ``spec`` on the data under ``root`` (see ``orchestrator.plan``)."""
    from orchestrator.plan import Plan, cache_bytes, fold_frames, planned_jobs, slots
    from orchestrator.runner import fold_manifest

    fold_rows, manifest = fold_manifest(spec, root)
    folds = [f.name for f in fold_rows]
    jobs, templates = planned_jobs(spec, folds, manifest)
    videos = fold_frames(spec.protocol, root, folds)
    staged = [("trials", job) for job in jobs]
    staged += [(f"samples of {t.label}", t) for t, n in templates for _ in range(n)]
    nets_of: dict[str, TrialNets] = {}
    trials, nets, configs = [], {}, {}
    for stage, job in staged:
        key = stable_hash(job.params)
        if key not in nets_of:
            nets_of[key] = trial_nets(job)
            workload = WORKLOADS.get(job.workload)
            cfg = workload.data_config(workload.parse(job.params))
            configs[cfg.key()] = cfg
        n = nets_of[key]
        for net in (n.train, n.search):
            if net is not None:
                nets.setdefault(net.key, net)
        fpv = int(job.params.get("frames_per_video", 1))
        trials.append(trial_work(job, stage, videos[job.fold], n, fpv))
    speeds, measured = speeds_of(nets, images_per_s, steps, step_seconds)
    resources = {k: float(v) for k, v in spec.resources.items()}
    plan = Plan(
        experiment=spec.name,
        preset=spec.preset,
        protocol=spec.protocol,
        folds=folds,
        videos=len(manifest),
        data=data,
        jobs={
            "folds": len(folds),
            "grid_points": len(jobs) // max(1, len(folds) * len(spec.seeds)),
            "seeds": len(spec.seeds),
            "grid_jobs": len(jobs),
            "sampled": sum(n for _, n in templates),
        },
        trials=trials,
        speeds=speeds,
        measured=measured,
        resources=resources,
        gpus=gpus,
        slots=slots(resources, gpus, cpus),
        cache_bytes=cache_bytes(configs.values(), len(manifest)),
    )
    plan.schedule()
    return plan
