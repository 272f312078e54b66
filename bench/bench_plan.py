"""`orchestrate plan`'s wall-time model against a simulated cluster.

A Ray cluster of two nodes with two fake GPUs each (``ray.cluster_utils.Cluster``, no real GPU)
runs Tune trials that each ask for one GPU and sleep for a set duration (durations chosen so the
packing matters: unequal, more trials than slots; actors reused as ``orchestrate run`` does); a second stage of sampled trials follows the
first, as ``orchestrate run`` does. The plan's model (``orchestrator.plan``: greedy list
scheduling per stage, plus its per-trial and per-stage overheads) predicts the wall from the same
durations; the measured wall is the two ``Tuner.fit`` calls'.

    python bench/bench_plan.py            # goal: error <= 20 %
"""

from __future__ import annotations

import argparse
import tempfile
import time

import ray
from ray import tune
from ray.cluster_utils import Cluster

from orchestrator.plan import STAGE_OVERHEAD_S, TRIAL_OVERHEAD_S, slots, stage_walls


def sleeper(config: dict) -> None:
    time.sleep(config["seconds"])
    tune.report({"done": 1})


def run_stage(durations: list[float], gpu: float, storage: str, name: str) -> float:
    tuner = tune.Tuner(
        tune.with_resources(sleeper, {"cpu": 0.5, "gpu": gpu}),
        param_space={"seconds": tune.grid_search(durations)},
        # as orchestrate run's trials: actors reused between trials (orchestrator.backend.driver)
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    t0 = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--gpus-per-node", type=int, default=2)
    ap.add_argument("--scale", type=float, default=2.0, help="multiply every duration")
    args = ap.parse_args()
    stages = {
        "trials": [s * args.scale for s in (12, 9, 6, 15, 8, 8, 10, 5, 7, 11)],
        "samples": [s * args.scale for s in (6, 6, 9, 4, 5)],
    }
    gpus = args.nodes * args.gpus_per_node
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "num_gpus": args.gpus_per_node},
    )
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=2, num_gpus=args.gpus_per_node)

    n = slots({"gpu": 1}, gpus, cpus=1)
    with tempfile.TemporaryDirectory() as storage:
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            # a stage's fixed cost on this cluster (Tune's start, the first actor): one 0 s trial
            fixed = run_stage([0.0], 1.0, storage, "plan-bench-fixed")
            measured = {
                name: run_stage(d, 1.0, storage, f"plan-bench-{name}") for name, d in stages.items()
            }
        finally:
            ray.shutdown()
            cluster.shutdown()
    padded = {k: [d + TRIAL_OVERHEAD_S for d in v] for k, v in stages.items()}
    m = sum(measured.values())
    print(f"  a stage of one 0 s trial: {fixed:.1f} s (the plan's default {STAGE_OVERHEAD_S} s)")
    for label, stage_s in (("plan defaults", STAGE_OVERHEAD_S), ("stage cost measured", fixed)):
        predicted = stage_walls(padded, n, stage_s)
        for name in stages:
            print(
                f"  {label}, {name}: {len(stages[name])} trials of {min(stages[name]):.0f}-"
                f"{max(stages[name]):.0f} s on {n} fake GPUs ({args.nodes} nodes x "
                f"{args.gpus_per_node}): predicted {predicted[name]:.1f} s, "
                f"measured {measured[name]:.1f} s"
            )
        p = sum(predicted.values())
        print(
            f"plan wall model ({label}): predicted {p:.1f} s, measured {m:.1f} s, "
            f"error {100 * abs(p - m) / m:.1f} % (goal <= 20 %)"
        )


if __name__ == "__main__":
    main()
