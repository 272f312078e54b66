"""PC-DARTS search costs on CPU: memory K=4 vs K=1, training throughput, arch-update share.

* Memory: one supernet training step (forward + backward) at the same batch, K=4 (PC-DARTS) vs
  K=1 (DARTS), measured two ways: the bytes of the tensors autograd saves for backward (exact,
  via saved-tensor hooks, deduplicated by storage) and the peak-RSS growth of a fresh subprocess
  during the step (what the OS sees; includes allocator slack). The subprocess first runs one
  step at batch 2 (same K, same code path) so that one-time process costs (lazily initialised
  library state, e.g. ~33 MiB the first time autograd runs a backward inside a backward, which
  the recomputing supernet does) are not counted as activation memory.
* Throughput: images/s of the weight step (forward, backward, optimizer) for K=4 and K=1,
  median of interleaved rounds.
* Arch share: the share of a full search step (weight step + architecture step) spent in the
  architecture update, first order and second order (unrolled), K=4.

Defaults are the configuration of the issue's goals: the eight DARTS ops (``baseline_van``),
C = 16, 8 cells, 64 px input, batch 16; ``--space autofas --layers 4 --size 48 --batch 8`` gives
the smaller Auto-FAS figures.

``bench/bench_search_step.py`` times our search step against a plain reference mixed op.

One torch thread by default: tiny-op workloads gain little from a second thread and, on a shared
machine, OpenMP threads spinning under oversubscription make timings swing by 5-10x.

    .venv/bin/python bench/bench_search.py [--space baseline_van] [--batch 16] [--size 64]
        [--C 16] [--layers 8] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from search_spaces.spaces import make_space
from search_spaces.supernet import build_supernet
from workloads.nas.architect import Architect
from workloads.nas.config import SearchConfig, Task
from workloads.nas.objective import default_loss
from workloads.nas.steps import weight_step

MEMORY_GOAL = 0.30  # K=4 peak activation memory / K=1's, same batch
WARMUP_BATCH = 2  # the subprocess's warm-up step before its peak-RSS watermark is reset


def make_net(args: argparse.Namespace, k: int) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {} if args.space.startswith("fas") else {"layers": args.layers}
    return build_supernet(make_space(args.space, C=args.C, **extra), k=k)


def make_batch(args: argparse.Namespace, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    labels = torch.arange(args.batch) % 2
    m = (args.size + 7) // 8
    return x, labels.float().view(-1, 1, 1).expand(-1, m, m).clone(), labels


def saved_bytes(net: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> int:
    """Bytes autograd keeps for backward in one forward (each storage counted once)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = default_loss()(net(batch[0]), batch)
    loss.backward()
    return sum(seen.values())


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def child_peak(args: argparse.Namespace, k: int) -> int:
    """In this (fresh) process: peak RSS growth in bytes during one forward+backward, after a
    warm-up step at a small batch (see the module docstring).

    Linux keeps ``ru_maxrss`` across exec (a child would inherit the parent's peak), so this
    reads the per-process ``VmHWM`` after resetting it through ``/proc/self/clear_refs``.
    """
    net = make_net(args, k)
    warm = make_batch(argparse.Namespace(**{**vars(args), "batch": WARMUP_BATCH}))
    default_loss()(net(warm[0]), warm).backward()
    net.zero_grad()
    batch = make_batch(args)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS watermark to the current RSS
        base = _status_kib("VmRSS")
    except OSError:  # not Linux or not allowed: the watermark so far (model built, no step)
        base = _status_kib("VmHWM")
    default_loss()(net(batch[0]), batch).backward()
    return (_status_kib("VmHWM") - base) * 1024


def rss_peak(args: argparse.Namespace, k: int) -> int:
    cmd = [sys.executable, __file__, "--child", str(k)] + [
        f"--{a}={getattr(args, a)}" for a in ("space", "batch", "size", "C", "layers", "threads")
    ]
    return int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())


def throughput(args: argparse.Namespace, rounds: int) -> dict[int, float]:
    """Images/s of the weight step, K=4 and K=1 interleaved round by round."""
    cfg = SearchConfig(w_lr=1e-3)
    nets = {k: make_net(args, k) for k in (4, 1)}
    opts = {k: torch.optim.Adam(n.weight_parameters(), 1e-3) for k, n in nets.items()}
    task = Task([("s", make_batch(args))], ("q", make_batch(args, 1)))
    times: dict[int, list[float]] = {4: [], 1: []}
    for r in range(rounds + 1):
        for k, net in nets.items():
            t0 = time.perf_counter()
            weight_step(net, opts[k], task, default_loss(), cfg)
            if r:  # round 0 is the warm-up
                times[k].append(time.perf_counter() - t0)
    return {k: args.batch / statistics.median(v) for k, v in times.items()}


def arch_share(args: argparse.Namespace, rounds: int, unrolled: bool) -> tuple[float, float]:
    """(share of the step spent in the arch update, seconds per full search step)."""
    cfg = SearchConfig(w_lr=1e-3, unrolled=unrolled)
    net = make_net(args, 4)
    opt = torch.optim.Adam(net.weight_parameters(), 1e-3)
    architect = Architect(net, cfg, default_loss())
    sup, qry = make_batch(args), make_batch(args, 1)
    w_t, a_t = [], []
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        weight_step(net, opt, Task([("s", sup)], ("q", qry)), default_loss(), cfg)
        t1 = time.perf_counter()
        architect.step([sup], qry, xi=1e-3)
        t2 = time.perf_counter()
        if r:
            w_t.append(t1 - t0)
            a_t.append(t2 - t1)
    w, a = statistics.median(w_t), statistics.median(a_t)
    return a / (w + a), w + a


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="baseline_van")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(child_peak(args, args.child))
        return
    t_start = time.perf_counter()
    print(
        f"space={args.space} C={args.C} layers={args.layers} batch={args.batch} "
        f"input={args.size} threads={torch.get_num_threads()}"
    )
    rss = {k: rss_peak(args, k) for k in (4, 1)}  # first, while this process is still small
    saved = {k: saved_bytes(make_net(args, k), make_batch(args)) for k in (4, 1)}
    ips = throughput(args, args.rounds)
    share1, step1 = arch_share(args, args.rounds, unrolled=False)
    share2, step2 = arch_share(args, 1, unrolled=True)
    mib = 2.0**20
    rows = [
        ("saved activations (MiB)", saved[4] / mib, saved[1] / mib, saved[1] / saved[4]),
        ("peak RSS growth, subprocess (MiB)", rss[4] / mib, rss[1] / mib, rss[1] / max(1, rss[4])),
        ("weight-step throughput (img/s)", ips[4], ips[1], ips[4] / ips[1]),
    ]
    print(f"\n{'metric':36s} {'K=4':>10s} {'K=1':>10s} {'K=1/K=4':>9s}")
    for name, a, b, r in rows:
        print(f"{name:36s} {a:10.1f} {b:10.1f} {r:9.2f}")
    print(f"\nK=4 / K=1 saved activations: {saved[4] / saved[1]:.3f} (goal <= {MEMORY_GOAL})")
    print(f"K=4 / K=1 peak RSS growth:   {rss[4] / max(1, rss[1]):.3f} (goal <= {MEMORY_GOAL})")
    print(f"\n{'search step (K=4)':36s} {'arch share':>10s} {'s/step':>10s}")
    print(f"{'first order':36s} {share1:10.1%} {step1:10.3f}")
    print(f"{'second order (unrolled)':36s} {share2:10.1%} {step2:10.3f}")
    summary = dict(saved_ratio=saved[1] / saved[4], rss_ratio=rss[1] / max(1, rss[4]))
    summary |= dict(saved_k4_over_k1=saved[4] / saved[1], rss_k4_over_k1=rss[4] / max(1, rss[1]))
    summary |= dict(ips_k4=ips[4], ips_k1=ips[1], arch_share_1st=share1, arch_share_2nd=share2)
    print("\n" + json.dumps({k: round(v, 3) for k, v in summary.items()}))
    print(f"total {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
