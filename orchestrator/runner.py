"""``orchestrate run``: spec -> jobs -> (skip what MLflow already holds) -> Ray trials -> MLflow.

Resuming after a killed driver: each stage's Tune experiment is named by a hash of its job set
(``tune_name``), so the same command first recovers what the dead driver left
(``recover_experiment``, from plain files, never unpickled): finished trials are delivered
to MLflow, unfinished ones continue from their newest checkpoint, and what is still missing runs
anew. The sampled (Optuna) stage recovers the same way: the dead driver's drawn samples finish
(or are delivered), and only samples still missing are drawn, by a sampler seeded past them
(a TPE sampler starts without the dead driver's history). The sink keeps one MLflow child run
per trial: a trial resumed from a checkpoint continues its unfinished run
(``Tracker.adopt_child``) and skips the epochs that run already holds; events of run keys
already FINISHED in MLflow are ignored. ``--fresh`` skips the recovery; a new experiment under
the same name replaces the old state.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console

from orchestrator.backend.cluster import cluster_resources, init_ray, map_tasks
from orchestrator.backend.driver import RunOptions, recover_experiment, run_sampled, run_trials
from orchestrator.event_queue import QueuedEvents
from orchestrator.jobs import (
    Job,
    code_version,
    data_fingerprint,
    expand_jobs,
    git_sha,
    stable_hash,
)
from orchestrator.progress import SweepProgress
from orchestrator.sink import TrialSink
from orchestrator.specs import ExperimentSpec, SpecError
from orchestrator.status import PLAN_ARTIFACT, plan_file
from orchestrator.tracking.claim import DriverLock
from orchestrator.tracking.presentation import dataset_input, source_tags
from orchestrator.tracking.runs import Tracker
from workloads.frames import VideoDecodeError

if TYPE_CHECKING:
    from protocols.protocols import Fold


@dataclass
class RunSummary:
    experiment: str
    total: int
    reused: int
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    wall_seconds: float = 0.0
    init_seconds: float = 0.0
    prepare_seconds: float = 0.0
    trials_wall_seconds: float = 0.0
    trial_seconds: float = 0.0
    resumed: list[str] = field(default_factory=list)


def _choices(template: Job) -> dict[str, list]:
    """What the sampler draws for a template job: its workload's declared choices (validation
    refused a sampling workload without them)."""
    from workloads.base import WORKLOADS

    workload = WORKLOADS.get(template.workload)
    if workload.choices is None:
        raise ValueError(f"workload {template.workload!r} declares no choices to sample")
    return workload.choices(workload.parse(template.params))


def _build_cache_chunk(args: tuple[pd.DataFrame, Any, str]) -> int:
    from workloads.cache import build_cache

    rows, cfg, cache_root = args
    build_cache(rows, cfg, Path(cache_root))
    return len(rows)


def prepare_caches(
    jobs: list[Job], manifest: pd.DataFrame, cache_root: Path, view: SweepProgress
) -> None:
    """Preprocess every video once per pipeline setting, in parallel Ray tasks, before trials.

    An unusable video raises :class:`VideoDecodeError` naming the file (the first one found)."""
    from workloads.base import WORKLOADS
    from workloads.cache import missing_entries

    configs = {}
    for job in jobs:
        workload = WORKLOADS.get(job.workload)
        cfg = workload.data_config(workload.parse(job.params))
        configs[cfg.key()] = cfg
    n_chunks = max(1, int(cluster_resources().get("CPU", 1)) * 2)
    for cfg in configs.values():
        todo = missing_entries(manifest, cfg, cache_root)
        if todo.empty:
            continue
        chunks = [
            manifest.iloc[i::n_chunks] for i in range(n_chunks) if len(manifest.iloc[i::n_chunks])
        ]
        task = view.stage(f"  preprocessing {len(todo)} videos ({cfg.key()})", len(chunks))
        try:
            map_tasks(
                _build_cache_chunk,
                [(chunk, cfg, str(cache_root)) for chunk in chunks],
                on_done=lambda d, t, task=task: view.advance_stage(task, d, t),
            )
        except VideoDecodeError as exc:  # raised in a Ray task: keep the cause, not the wrapper
            cause = getattr(exc, "cause", exc)
            raise VideoDecodeError(cause.path, cause.problem) from None


def sampling_plan(spec: ExperimentSpec, jobs: list[Job], tracker: Tracker, fresh: bool):
    """Per (fold, grid point) of the first seed: a template job for the spec's sampler, how many
    samples are still missing from MLflow, and the sampler seed to continue with."""
    cfg = spec.sampling
    if not cfg:
        return []
    children = tracker.child_runs()
    counts: dict[str, int] = {}
    if not fresh and not children.empty and "params.template_key" in children:
        ok = children[children["status"] == "FINISHED"]
        counts = ok["params.template_key"].value_counts().to_dict()
    plan = []
    for job in jobs:
        if job.seed != spec.seeds[0]:
            continue
        key = stable_hash({"sampling_of": job.run_key, "sampling": dict(cfg)})
        params = {**job.params, "sampler": cfg["algorithm"]}
        label = f"{job.label}_{cfg['algorithm']}"
        template = Job(
            key, job.experiment, cfg["workload"], job.protocol, job.fold, job.seed, params, label
        )
        done = int(counts.get(key, 0))
        plan.append(
            (template, max(int(cfg["num_samples"]) - done, 0), int(cfg.get("seed", 0)) + done)
        )
    return plan


def tune_name(spec: ExperimentSpec, keys: Iterable[str], where: dict[str, Any]) -> str:
    """A stage's Tune experiment name: stable for the same job set, data, cache, tracking store
    and resources, so the same command after a killed driver finds (and restores) what it left
    (and another store's command never picks it up)."""
    digest = stable_hash({"keys": sorted(keys), "where": where, "resources": dict(spec.resources)})
    return f"{spec.name}-{digest[:12]}"


def sweep_identity(spec: ExperimentSpec) -> str:
    """What makes re-runs one sweep (one parent run): the spec without its grid values, seeds
    and sampled-trial count, so a re-run with more grid points or seeds nests under the same
    parent; a changed fixed param, preset, protocol or fold set is another sweep."""
    d = spec.to_dict()
    d["grid"] = sorted(d.get("grid", {}))
    d["sampling"] = {k: v for k, v in d.get("sampling", {}).items() if k != "num_samples"}
    for key in ("seeds", "description", "retries", "resources"):
        d.pop(key, None)
    return stable_hash(d)


def fold_manifest(spec: ExperimentSpec, data_root: Path) -> tuple[list[Fold], pd.DataFrame]:
    """The spec's folds (the ones it names, else all) and the manifest of their videos: built
    once per sweep here and handed to every trial, so no trial reads the manifests again."""
    from protocols.protocols import PROTOCOLS

    try:
        protocol = PROTOCOLS.get(spec.protocol)
    except KeyError as exc:
        raise SpecError(str(exc.args[0])) from None
    folds = protocol.folds(data_root)
    names = [f.name for f in folds]
    if spec.folds:
        unknown = sorted(set(spec.folds) - set(names))
        if unknown:
            raise SpecError(f"folds {unknown} not in protocol {spec.protocol}; valid: {names}")
        folds = [f for f in folds if f.name in spec.folds]
    frames = [df for f in folds for df in (f.train, f.dev, f.test) if len(df)]
    manifest = pd.concat(frames).drop_duplicates(["dataset", "video_id"]).reset_index(drop=True)
    return folds, manifest


@dataclass(frozen=True)
class RunRequest:
    """Where ``orchestrate run`` runs: data, frame cache, tracking store, cluster, Ray storage;
    ``fresh`` skips both MLflow's finished trials and a dead driver's recovery."""

    data_root: Path
    cache_root: Path
    tracking_uri: str
    console: Console
    address: str | None = None
    storage_path: str | None = None
    fresh: bool = False


def run_experiment(spec: ExperimentSpec, req: RunRequest) -> RunSummary:
    """Run what MLflow does not hold yet of ``spec``, one driver per experiment and store."""
    start = time.perf_counter()
    folds, manifest = fold_manifest(spec, req.data_root)  # data errors before the store
    tracker = Tracker(req.tracking_uri, spec.name)
    with DriverLock(tracker):  # one driver per experiment and store (DriverBusy otherwise)
        return _run_locked(spec, tracker, req, start, folds, manifest)


def _run_locked(
    spec: ExperimentSpec,
    tracker: Tracker,
    req: RunRequest,
    start: float,
    folds: list[Fold],
    manifest: pd.DataFrame,
) -> RunSummary:
    data_root, cache_root, console, fresh = req.data_root, req.cache_root, req.console, req.fresh
    jobs = expand_jobs(spec, [f.name for f in folds], data_fingerprint(manifest))
    done = {} if fresh else tracker.finished_run_keys()
    todo = [j for j in jobs if j.run_key not in done]
    plan = sampling_plan(spec, jobs, tracker, fresh)
    n_sampled = sum(n for _, n, _ in plan)
    n_total = len(jobs) + len(plan) * int(spec.sampling.get("num_samples", 0))
    summary = RunSummary(spec.name, n_total, n_total - len(todo) - n_sampled)
    console.print(
        f"[bold]{spec.name}[/bold] ({spec.preset}): {n_total} trials on {spec.protocol} "
        f"({len(folds)} fold(s), {len(manifest)} videos); {summary.reused} already in MLflow, "
        f"{len(todo) + n_sampled} to run"
    )
    samples = {t.run_key: int(spec.sampling.get("num_samples", 0)) for t, _, _ in plan}
    plan_files = {PLAN_ARTIFACT: plan_file([j.run_key for j in jobs], samples)}
    if not todo and not n_sampled:
        # nothing to run: the sweep's parent (if it ran before) still records what was asked
        parent = tracker.parent_of(sweep_identity(spec))
        if parent is not None:
            tracker.log_artifacts(parent, plan_files)
            tracker.set_tags(parent, {"n_trials": str(n_total)})
        summary.wall_seconds = time.perf_counter() - start
        return summary
    t0 = time.perf_counter()
    init_ray(req.address)
    summary.init_seconds = time.perf_counter() - t0
    tracker.describe(spec.description, list(spec.grid))
    parent = tracker.start_parent(
        f"{spec.name}-{spec.preset}",
        {
            "preset": spec.preset,
            "code_version": code_version(),
            "n_trials": str(n_total),
            **source_tags(git_sha()),
        },
        {},
        spec.to_dict(),
        identity=sweep_identity(spec),
    )
    summary.parent_run_id = parent
    tracker.log_artifacts(parent, plan_files)
    status = "FAILED"
    sink: TrialSink | None = None
    events: QueuedEvents | None = None
    try:
        with SweepProgress(console, len(todo) + n_sampled, spec.name) as view:
            t0 = time.perf_counter()
            prepare_caches(todo + [t for t, n, _ in plan if n], manifest, cache_root, view)
            summary.prepare_seconds = time.perf_counter() - t0
            data = dataset_input(manifest, spec.protocol, data_fingerprint(manifest))
            sink = TrialSink(tracker, parent, spec, view, done, dataset=data)
            events = QueuedEvents(sink)  # MLflow writes off Tune's event loop, in order
            where = {"data_root": data_root, "cache_root": cache_root}
            storage = req.storage_path or os.environ.get("FAS_STORAGE_PATH")
            options = RunOptions(
                spec.resources, data_root, cache_root, storage, spec.retries, folds=folds
            )

            def recover(name: str) -> tuple[set[str], dict[str, Job], dict[str, str]]:
                """What a dead driver's experiment ``name`` left (--fresh: nothing): finished
                trials delivered now, unfinished ones with their checkpoints."""
                if fresh:
                    return set(), {}, {}
                settled, left, points = recover_experiment(events, name=name, storage_path=storage)
                if settled or points:
                    view.console.print(
                        f"  recovered {name}: {len(settled - set(done))} finished trial(s) "
                        f"delivered, {len(points)} continue from their checkpoints"
                    )
                return settled, left, points

            where_hash = {**where, "tracking_uri": req.tracking_uri}
            name = tune_name(spec, [j.run_key for j in jobs], where_hash)
            settled, _, points = recover(name) if todo else (set(), {}, {})
            todo = [j for j in todo if j.run_key not in settled]
            summary.trials_wall_seconds += run_trials(
                todo, events, name=name, options=options, resume=points
            )
            for template, remaining, seed in plan:
                if not remaining:
                    continue
                name = tune_name(spec, [template.run_key], where_hash)
                settled, left, points = recover(name)
                unfinished = [j for k, j in left.items() if k not in done]
                summary.trials_wall_seconds += run_trials(
                    unfinished, events, name=name, options=options, resume=points
                )
                drawn = len(settled - set(done)) + len(unfinished)  # samples the dead driver drew
                if remaining > drawn:
                    summary.trials_wall_seconds += run_sampled(
                        template,
                        _choices(template),
                        events,
                        num_samples=remaining - drawn,
                        algorithm=spec.sampling["algorithm"],
                        seed=seed + drawn,
                        name=name,
                        options=options,
                    )
            events.close()  # every trial's run is written before the summary is read
        summary.finished, summary.failed = sink.summary_finished, sink.summary_failed
        summary.trial_seconds, summary.resumed = sink.trial_seconds, sink.resumed
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"  # Ctrl-C: what finished is kept, the same command resumes the rest
        if sink is not None:
            _settle(events)
            summary.finished, summary.failed = sink.summary_finished, sink.summary_failed
            sink.interrupted()
        raise
    finally:
        _settle(events)  # a failed sweep still records the trials that ended
        summary.wall_seconds = time.perf_counter() - start
        tracker.set_tags(
            parent, {"n_finished": len(summary.finished), "n_failed": len(summary.failed)}
        )
        if status == "FINISHED":
            publish_summary(tracker, parent, spec.name, console, spec)
        tracker.end(parent, status)
    return summary


def _settle(events: QueuedEvents | None) -> None:
    """Deliver the queued trial events of a sweep that stops on an error or Ctrl-C (the error
    that stopped it is the one raised, not the sink's)."""
    if events is not None:
        with contextlib.suppress(Exception):
            events.close()


def publish_summary(
    tracker: Tracker,
    parent: str,
    name: str,
    console: Console,
    spec: ExperimentSpec | None = None,
) -> None:
    """The sweep's summary on the parent run (only ``run`` writes it): the table with intervals
    (its description), the statistics and figure; with the ``spec``, the summary metrics
    (``sweep_summary``) and the experiment's description followed by the table. A summary that
    cannot be built is a warning, never a failed sweep (``orchestrate report`` still builds its
    tables from the stored runs)."""
    from orchestrator.report import experiment_report, publish
    from orchestrator.sweep_summary import summary_metrics

    try:
        parents, children = tracker.parent_runs(), tracker.child_runs()
        if spec is not None and "tags.mlflow.parentRunId" in children:
            own = children[children["tags.mlflow.parentRunId"] == parent]
            metrics, tags = summary_metrics(own, list(spec.grid))
            tracker.log_metrics(parent, metrics, step=0)
            tracker.set_tags(parent, tags)
        report = experiment_report(name, parents, children, tracker.scores, spec_of=tracker.spec)
        if report is not None:
            publish(tracker, parent, report)
            if spec is not None:
                latest = f"Latest sweep, {spec.preset} preset (its parent run's description):"
                text = f"{spec.description}\n\n{latest}\n\n{tracker.note(parent)}".strip()
                tracker.describe(text, list(spec.grid))
    except Exception as exc:  # noqa: BLE001 - the trials are stored; only the summary is missing
        console.print(f"[yellow]warning:[/yellow] no summary on the parent run: {exc!r}")
