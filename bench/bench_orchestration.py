"""Where the smoke sweep's wall time goes: trial compute vs orchestration overhead.

Runs ``ablation_cdc_theta --preset smoke`` (11 trials) on local Ray into a fresh SQLite MLflow
store and splits its wall time: Ray start-up, cache preparation, the Tune phase, and inside it
the trials' own compute (summed, and divided by the parallel slots) against everything else
(actor start-up, result plumbing, MLflow writes from the driver).

    .venv/bin/python bench/bench_orchestration.py [--experiment NAME] [--preset smoke] [--cpus 2]

A protocol fan-out (e.g. ``--experiment protocol_oulu_npu``, 14 folds) measures how much of the
machine's parallelism the runner actually gets: summed job compute against the Tune wall.
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
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        where = RunRequest(root, resolve_cache_root(), uri, console)
        s = run_experiment(spec, dataclasses.replace(where, fresh=True))
        t1 = time.perf_counter()
        again = run_experiment(spec, where)
        rerun_s = time.perf_counter() - t1
    slots = args.cpus / float(spec.resources.get("cpu", 1))
    ideal = s.trial_seconds / slots
    overhead = s.trials_wall_seconds - ideal
    n = len(s.finished) + len(s.failed)
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
    print(
        f"  {'compute share of Tune wall (ideal / wall)':<50s} {ideal / s.trials_wall_seconds:8.2f}"
    )
    print(f"  {'overhead per trial':<50s} {overhead / max(n, 1):8.2f} s")
    parallel = s.trial_seconds / max(s.trials_wall_seconds, 1e-9)
    print(f"  {'parallelism achieved (summed compute / Tune wall)':<50s} {parallel:8.2f}")
    print(f"  {'trials re-run on the second invocation':<50s} {len(again.finished):8d}")


if __name__ == "__main__":
    main()
