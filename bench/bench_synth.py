"""Generating the embedded benchmark: ``ensure_root`` in one process vs a pool of worker processes.

Both sides generate the same data root (default: OULU-NPU at the quick size, what ``make demo``
generates first) into their own temp folder, in one run; the bench prints both wall times, the
speedup and whether every written file is byte-identical. On a machine shared with other work
the wall speedup understates what an idle machine gives (the load average is printed), so the
CPU seconds each side used are printed too: the busiest worker's CPU time is the pool's wall time
on an idle machine (worker CPU is sampled from /proc: the workers are the forkserver's children,
which ``getrusage`` does not count). For OULU-NPU alone it prints the one process's CPU seconds
per video, the figure to compare between two versions of the generator run one after the other.
Run: ``.venv/bin/python bench/bench_synth.py [--size quick] [--workers 2] [--users N]``
(``--users N``: only the first N users of each split, for a shorter run).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth import SYNTH_SIZES, ensure_root  # noqa: E402
from synth.oulu import default_workers  # noqa: E402


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def descendant_cpu() -> dict[int, float]:
    """CPU seconds (user + system) so far of each live descendant process of this one."""
    tick, parent, cpu = os.sysconf("SC_CLK_TCK"), {}, {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parent[int(name)] = int(fields[1])
        cpu[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    me, out = os.getpid(), {}
    for pid, seconds in cpu.items():
        up = parent.get(pid)
        while up not in (None, 0, 1, me):
            up = parent.get(up)
        if up == me:
            out[pid] = seconds
    return out


def timed_root(size: str, base: Path, datasets: list[str], workers: int):
    """(wall s, CPU s of this process, CPU s per worker process, root) of one ``ensure_root``."""
    seen: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            for pid, seconds in descendant_cpu().items():
                seen[pid] = max(seen.get(pid, 0.0), seconds)

    before = descendant_cpu()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    root = ensure_root(size, 0, base, datasets, workers=workers)
    wall, own = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    sampler.join()
    workers_cpu = [s - before.get(pid, 0.0) for pid, s in seen.items()]
    return wall, own, [s for s in workers_cpu if s > 0.5], root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="quick", choices=sorted(SYNTH_SIZES))
    ap.add_argument("--workers", type=int, default=max(2, default_workers()))
    ap.add_argument("--datasets", default="oulu_npu", help="comma list of dataset folders")
    ap.add_argument("--users", type=int, default=0, help="first N users per split (0 = all)")
    args = ap.parse_args()
    if args.workers < 2:
        ap.error(f"--workers must be >= 2 to compare with one process, got {args.workers}")
    size = args.size
    if args.users > 0:
        full = SYNTH_SIZES[size]
        cut = {f"n_{s}_users": min(args.users, getattr(full, f"n_{s}_users"))
               for s in ("train", "dev", "test")}  # fmt: skip
        size = f"{args.size}-{args.users}users"
        SYNTH_SIZES[size] = dataclasses.replace(full, **cut)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    n_videos = SYNTH_SIZES[size].n_videos if datasets == ["oulu_npu"] else None
    load = os.getloadavg()[0]
    print(f"size {size}, datasets {','.join(datasets)}"
          + (f", {n_videos} videos" if n_videos else "")
          + f"; {len(os.sched_getaffinity(0))} CPUs available, load average {load:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        serial, own, _, one = timed_root(size, Path(tmp) / "serial", datasets, 1)
        per_video = f" ({own / n_videos:.3f} CPU-s per video)" if n_videos else ""
        line = f"  1 process:           wall {serial:7.1f} s, CPU {own:7.1f} s{per_video}"
        print(line, flush=True)
        parallel, _, per_worker, many = timed_root(
            size, Path(tmp) / "parallel", datasets, args.workers
        )
        busiest = max(per_worker, default=float("nan"))
        print(f"  {args.workers} worker processes: wall {parallel:7.1f} s, CPU {sum(per_worker):7.1f} s"
              f" (busiest worker {busiest:.1f} s)", flush=True)  # fmt: skip
        written = digests(one)
        same, n_files = written == digests(many), len(written)
    print(f"speedup {serial / parallel:.2f}x (wall), {own / busiest:.2f}x on an idle machine "
          f"(1-process CPU / busiest worker CPU); {n_files} files, byte-identical: "
          f"{'yes' if same else 'NO'}")  # fmt: skip
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
