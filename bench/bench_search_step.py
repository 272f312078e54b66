"""The PC-DARTS search step, ours vs a plain reference, side by side in one run.

* ours: ``build_supernet`` (its mixed op skips ``none``, shares the candidates' ReLU and runs
  channels_last) stepped by the search workload's own functions (``weight_step`` with SGD, then
  ``Architect.step`` first order: Adam on the alphas/betas).
* reference: the same parameters in the PC-DARTS paper's mixed op written plainly
  (``build_supernet(..., reference=True)``: ``sum_o softmax(alpha)_o * o(x)`` on the K-partial
  channel slice, then the channel shuffle) stepped as the official code steps it: ``backward()``
  of the whole graph, SGD on the weights (gradient norm clipped at 5), then again for Adam on the
  architecture.
* reference op, our steps: the plain mixed op with our step functions, separating what the mixed
  op gains from what the steps gain (gradients only for the parameters each step updates).

Defaults are the configuration of the speed goal: the eight DARTS ops (``baseline_van``), C = 16,
8 cells, K = 4, 64 px input (32x32 maps in the cells after the stride-2 stem), batch 16, one
thread. Rounds are interleaved (each round steps every variant once); figures are medians.

    .venv/bin/python bench/bench_search_step.py [--rounds 5] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from bench_search import make_batch

from search_spaces.spaces import make_space
from search_spaces.supernet import build_supernet
from workloads.nas.architect import Architect
from workloads.nas.config import SearchConfig, Task
from workloads.nas.objective import default_loss
from workloads.nas.steps import weight_step

GOAL = 1.3  # ours / reference images per second

Step = Callable[[], None]


def sgd(net: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(net.weight_parameters(), 0.025, momentum=0.9, weight_decay=3e-4)


def our_step(net: torch.nn.Module, train: tuple, val: tuple) -> Step:
    cfg = SearchConfig(w_lr=0.025)
    opt, architect, loss_fn = sgd(net), Architect(net, cfg, default_loss()), default_loss()
    task = Task([("s", train)], ("q", val))

    def step() -> None:
        weight_step(net, opt, task, loss_fn, cfg)
        architect.step([train], val, xi=0.0)

    return step


def official_step(net: torch.nn.Module, train: tuple, val: tuple) -> Step:
    cfg = SearchConfig()
    opt, loss_fn = sgd(net), default_loss()
    arch_opt = torch.optim.Adam(
        net.arch_parameters(), cfg.arch_lr, betas=cfg.arch_betas, weight_decay=cfg.arch_weight_decay
    )

    def step() -> None:
        arch_opt.zero_grad()
        loss_fn(net(val[0]), val).backward()
        arch_opt.step()
        opt.zero_grad()
        loss_fn(net(train[0]), train).backward()
        torch.nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        opt.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="baseline_van")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    space = make_space(args.space, C=args.C, layers=args.layers)
    torch.manual_seed(0)
    ours = build_supernet(space, k=args.k)
    nets = {"ours": ours}
    for name in ("reference", "reference op, our steps"):
        nets[name] = build_supernet(space, k=args.k, reference=True)
        nets[name].load_state_dict(ours.state_dict())
    train, val = make_batch(args), make_batch(args, 1)
    makers = {"ours": our_step, "reference": official_step, "reference op, our steps": our_step}
    steps = {n: makers[n](net, train, val) for n, net in nets.items()}
    times: dict[str, list[float]] = {n: [] for n in steps}
    for r in range(args.rounds + 1):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            if r:  # round 0 is the warm-up
                times[name].append(time.perf_counter() - t0)
    ips = {n: args.batch / statistics.median(v) for n, v in times.items()}
    print(
        f"space={args.space} C={args.C} layers={args.layers} K={args.k} input={args.size} "
        f"batch={args.batch} threads={torch.get_num_threads()} rounds={args.rounds}"
    )
    print(f"\n{'search step (weight + 1st-order arch)':38s} {'img/s':>8s} {'s/step':>8s}")
    for name, v in ips.items():
        print(f"{name:38s} {v:8.2f} {args.batch / v:8.3f}")
    ratio = ips["ours"] / ips["reference"]
    print(f"\nours / reference: {ratio:.2f}x (goal >= {GOAL}x)")
    print(
        f"ours / reference op with our steps: {ips['ours'] / ips['reference op, our steps']:.2f}x"
    )
    keys = {"ours": "ips_ours", "reference": "ips_reference"}
    summary = {keys.get(n, "ips_ref_op_our_steps"): v for n, v in ips.items()} | {"ratio": ratio}
    print("\n" + json.dumps({k: round(v, 3) for k, v in summary.items()}))
    print(f"total {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
