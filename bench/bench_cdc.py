"""Forward+backward time of the folded CDC vs the naive two-conv CDC vs nn.Conv2d (CPU).

The three variants run interleaved (one of each per round, after a warm-up) on the same input and
weights, so machine noise hits them alike; the table reports median times and, as ratios to
nn.Conv2d, the median of the per-round ratios. A time budget keeps the run under about a minute.
Goal: CDC / conv <= 1.05 (the fold costs a weight transform, not a second convolution).

    .venv/bin/python bench/bench_cdc.py [--repeats N] [--budget SECONDS] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops import CentralDifferenceConv2d

THETA = 0.7
# (label, batch, c_in, c_out, size): CDCN-like layers at reduced resolution to keep the run short
SHAPES = [
    ("stem 3->64 @64", 8, 3, 64, 64),
    ("64->128 @64", 8, 64, 128, 64),
    ("128->196 @32", 8, 128, 196, 32),
    ("196->128 @32", 8, 196, 128, 32),
]


class TwoConvCDC(nn.Conv2d):
    """The naive form: a full conv minus theta times a 1x1 conv with the summed kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        w_sum = self.weight.sum(dim=(2, 3), keepdim=True)
        return out - THETA * F.conv2d(x, w_sum, None, self.stride, 0, 1, self.groups)


def _step(module: nn.Module, x: torch.Tensor) -> Callable[[], float]:
    def run() -> float:
        module.zero_grad(set_to_none=True)
        x.grad = None
        t0 = time.perf_counter()
        module(x).sum().backward()
        return time.perf_counter() - t0

    return run


def bench_shape(
    batch: int, c_in: int, c_out: int, size: int, repeats: int, budget_s: float
) -> dict[str, list[float]]:
    """Per-round times of the three variants (at least 5 rounds, then until repeats or budget)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    cdc = CentralDifferenceConv2d(c_in, c_out, 3, padding=1, bias=False, theta=THETA)
    two = TwoConvCDC(c_in, c_out, 3, padding=1, bias=False)
    for m in (cdc, two):
        m.load_state_dict(conv.state_dict())
    x = torch.randn(batch, c_in, size, size, requires_grad=True)
    runs = {"conv": _step(conv, x), "cdc": _step(cdc, x), "two_conv": _step(two, x)}
    for run in runs.values():  # warm-up
        run()
        run()
    times: dict[str, list[float]] = {k: [] for k in runs}
    t0 = time.perf_counter()
    for i in range(repeats):
        if i >= 5 and time.perf_counter() - t0 > budget_s:
            break
        order = list(runs) if i % 2 == 0 else list(reversed(runs))
        for k in order:
            times[k].append(runs[k]())
    return times


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median of per-round ratios: a slow spell (another process) hits both sides of a pair."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--budget", type=float, default=40.0, help="seconds of timing in total")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, theta={THETA}, forward+backward; "
        "median ms and median of per-round ratios over interleaved rounds"
    )
    header = f"{'shape (batch 8)':<18}{'rounds':>7}{'conv ms':>9}{'cdc ms':>9}{'2conv ms':>10}"
    print(header + f"{'cdc/conv':>10}{'2conv/conv':>12}")
    ratios = []
    for label, batch, c_in, c_out, size in SHAPES:
        t = bench_shape(batch, c_in, c_out, size, args.repeats, args.budget / len(SHAPES))
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        r_cdc = paired_ratio(t["cdc"], t["conv"])
        r_two = paired_ratio(t["two_conv"], t["conv"])
        ratios.append(r_cdc)
        print(
            f"{label:<18}{len(t['conv']):>7}{med['conv']:>9.1f}{med['cdc']:>9.1f}"
            f"{med['two_conv']:>10.1f}{r_cdc:>10.3f}{r_two:>12.3f}"
        )
    worst = max(ratios)
    verdict = "meets" if worst <= 1.05 else "misses"
    print(f"worst cdc/conv = {worst:.3f} ({verdict} the 1.05 goal)")


if __name__ == "__main__":
    main()
