"""Where the smoke sweep's wall time goes: trial compute vs orchestration overhead.

Runs ``ablation_cdc_theta --preset smoke`` (11 trials) on local Ray into a fresh SQLite MLflow
store and splits its wall time: Ray start-up, cache preparation, the Tune phase, and inside it
the trials' own compute (summed, and divided by the parallel slots) against everything else
(actor start-up, result plumbing, MLflow writes from the driver).

    .venv/bin/python bench/bench_orchestration.py [--experiment NAME] [--preset smoke] [--cpus 2]
        [--marginal]

A protocol fan-out (e.g. ``--experiment protocol_oulu_npu``, 14 folds) measures how much of the
machine's parallelism the runner actually gets: summed job compute against the Tune wall.

The last two lines are the goals: overhead per job (Tune wall minus the ideal wall, per trial)
and cores used (summed trial compute / Tune wall). Both divide a compute time by a wall time
measured in the same run, so other processes slowing the machine stretch both alike: the
compute share of the Tune wall is the robust figure, and the load average is printed beside it.
``--marginal`` runs the sweep again with twice the seeds: the extra overhead per extra trial
(what each job costs) against the fixed start-up (Ray starting the trial actors, their imports).

Smoke jobs are about a second of compute each against a start-up of a few CPU-seconds per trial
process, so the fan-out figure is also worth reading at a realistic job size, with the same data:
``--set epochs=6`` (each job then trains for several seconds; the 11 trials stay under ~3 min).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", default="ablation_cdc_theta")
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE spec override")
    ap.add_argument(
        "--marginal",
        action="store_true",
        help="also run the sweep with twice the seeds: overhead per extra trial vs start-up",
    )
    args = ap.parse_args()
    os.environ.setdefault("FAS_HOME", str(Path.home() / ".cache" / "fas-orchestrator"))

    from orchestrator.backend.cluster import init_ray
    from orchestrator.experiments import resolve_experiment
    from orchestrator.runner import RunRequest, run_experiment
    from orchestrator.settings import resolve_cache_root, resolve_data_root
    from orchestrator.specs import apply_overrides, parse_set_options

    console = Console(quiet=True)
    spec = apply_overrides(
        resolve_experiment(args.experiment, args.preset), parse_set_options(args.set)
    )
    t0 = time.perf_counter()
    root = resolve_data_root(None, spec.data_size)
    data_s = time.perf_counter() - t0
    init_ray(num_cpus=args.cpus)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        where = RunRequest(root, resolve_cache_root(), uri, console)
        s = run_experiment(spec, dataclasses.replace(where, fresh=True))
        t1 = time.perf_counter()
        again = run_experiment(spec, where)
        rerun_s = time.perf_counter() - t1
        more = None
        if args.marginal:
            seeds = tuple(range(len(spec.seeds) * 2))
            bigger = dataclasses.replace(spec, seeds=seeds)
            more = run_experiment(bigger, dataclasses.replace(where, fresh=True))
    load_after = os.getloadavg()[0]
    slots = args.cpus / float(spec.resources.get("cpu", 1))
    n, overhead, ideal = _split(s, slots)
    rows = [
        ("synthetic data (cached after first use)", data_s),
        ("run_experiment wall", s.wall_seconds),
        ("  cache preparation (Ray tasks)", s.prepare_seconds),
        ("  Tune phase wall", s.trials_wall_seconds),
        ("    trial compute, summed", s.trial_seconds),
        (f"    trial compute / {slots:g} slots (ideal wall)", ideal),
        ("    orchestration overhead (Tune wall - ideal)", overhead),
        ("second identical run (all reused)", rerun_s),
    ]
    sets = "".join(f" --set {s}" for s in args.set)
    print(f"\n{args.experiment} --preset {args.preset}{sets}: {n} trials on {args.cpus} CPUs")
    for name, secs in rows:
        print(f"  {name:<50s} {secs:8.1f} s")
    share = ideal / max(s.trials_wall_seconds, 1e-9)
    print(f"  {'compute share of Tune wall (ideal / wall)':<50s} {share:8.2f}")
    print(f"  {'trials re-run on the second invocation':<50s} {len(again.finished):8d}")
    print(f"  {'load average (1 min) before / after':<50s} {load_before:4.1f} / {load_after:4.1f}")
    if more is not None:
        m, extra, _ = _split(more, slots)
        marginal = (extra - overhead) / max(m - n, 1)
        print(f"  {f'the same with {m} trials: overhead':<50s} {extra:8.1f} s")
        print(f"  {'marginal overhead per extra trial':<50s} {marginal:8.2f} s")
        print(f"  {'fixed overhead (start-up), per sweep':<50s} {overhead - n * marginal:8.1f} s")
    parallel = s.trial_seconds / max(s.trials_wall_seconds, 1e-9)
    print(f"overhead per job: {overhead / max(n, 1):.2f} s (goal <= 0.5 s)")
    print(f"fan-out cores used: {parallel:.2f} of {args.cpus} (goal >= 1.5)")


def _split(s, slots: float) -> tuple[int, float, float]:
    """(trials, orchestration overhead = Tune wall - ideal wall, ideal wall = summed trial
    compute / parallel slots) of one run."""
    ideal = s.trial_seconds / slots
    return len(s.finished) + len(s.failed), s.trials_wall_seconds - ideal, ideal


if __name__ == "__main__":
    main()
