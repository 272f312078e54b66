"""The search's epochs: ``search_epoch``, ``search`` (all epochs) and ``SearchLoop`` (one epoch at
a time with a complete state between epochs, so an interrupted search continues exactly where it
stopped)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from search_spaces.genotypes import Genotype, collapse_reason
from search_spaces.spaces import is_parameter_free
from workloads.nas.config import Batch, LossFn, SearchCollapseWarning, SearchConfig, Task
from workloads.nas.objective import default_loss
from workloads.nas.optimizers import OPTIMIZERS, SearchOptimizer
from workloads.nas.splits import DomainSplit, RandomSplit, as_batches
from workloads.precision import Precision

__all__ = ["SearchLoop", "SearchResult", "search", "search_epoch"]


def _to(batch: Batch, precision: Precision) -> tuple[torch.Tensor, ...]:
    return tuple(precision.batch(t) if isinstance(t, torch.Tensor) else t for t in batch)


def search_epoch(
    optimizer: SearchOptimizer, splitter: RandomSplit | DomainSplit, epoch: int
) -> dict[str, float]:
    """One epoch of ``optimizer`` steps on the splitter's tasks, each a weight and an arch update
    (in the variant's order; no arch update while warming up): the mean losses and accuracies,
    the learning rate and the seconds each kind of update took."""
    model, cfg, precision = optimizer.model, optimizer.cfg, optimizer.precision
    frozen = epoch < cfg.warmup_epochs
    sums = dict(loss_support=0.0, acc_support=0.0, loss_query=0.0, acc_query=0.0)
    t_w = t_a = 0.0
    n = 0
    model.train()
    for task in splitter.epoch(epoch):
        task = Task(
            [(d, _to(b, precision)) for d, b in task.support],
            (task.query[0], _to(task.query[1], precision)),
        )
        s = optimizer.step(task, frozen)
        precision.update()
        values = (s.loss_support, s.acc_support, s.loss_query, s.acc_query)
        for k, v in zip(sums, values, strict=True):
            sums[k] += v
        t_w, t_a = t_w + s.time_weights_s, t_a + s.time_arch_s
        n += 1
        if cfg.max_steps_per_epoch and n >= cfg.max_steps_per_epoch:
            break
    metrics = {k: v / max(1, n) for k, v in sums.items()}
    metrics.update(epoch=float(epoch), arch_frozen=float(frozen), steps=float(n), lr=optimizer.lr)
    metrics.update(time_weights_s=t_w, time_arch_s=t_a)
    return metrics


@dataclass
class SearchResult:
    genotype: Genotype
    history: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    collapse: str = ""


def arch_metrics(model: nn.Module) -> dict[str, float]:
    """The softmax architecture weights as flat ``arch/<cell>/e<edge>/<op>`` and
    ``arch/<cell>/beta/e<edge>`` floats."""
    out: dict[str, float] = {}
    ops = model.space.op_names  # type: ignore[attr-defined]
    for t, s in model.arch_summary().items():  # type: ignore[operator]
        for e, row in enumerate(s["alpha"]):
            out.update(
                {f"arch/{t}/e{e:02d}/{op}": float(v) for op, v in zip(ops, row, strict=True)}
            )
        out.update({f"arch/{t}/beta/e{e:02d}": float(v) for e, v in enumerate(s["beta"])})
    return out


def search(
    model: nn.Module,
    support_batches: Any = None,
    query_batches: Any = None,
    cfg: SearchConfig | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    *,
    splitter: RandomSplit | DomainSplit | None = None,
    loss_fn: LossFn | None = None,
    precision: Precision | None = None,
) -> SearchResult:
    """Run the search on a supernet (``search_spaces.supernet.build_supernet``).

    Give support/query batches (NAS) or a ``splitter`` (``DomainSplit`` for D/T-NAS, and with
    ``cfg.mode="meta"`` for D/T-Meta-NAS). ``report`` gets per epoch the metrics of
    ``search_epoch``, skip/parameter-free shares, ``collapse_warning``, the softmax arch weights
    as flat ``arch/<cell>/e<edge>/<op>`` floats and ``genotype`` (a JSON string, the only
    non-float value; ``cfg.report_genotype=False`` drops it). ``precision`` (a
    ``workloads.precision.Precision`` that has prepared ``model``) lays out the batches and
    scales fp16 losses; absent, fp32. ``SearchLoop`` runs the same
    epochs one at a time, with a state to save and restore between them.
    """
    loop = SearchLoop(
        model,
        support_batches,
        query_batches,
        cfg,
        splitter=splitter,
        loss_fn=loss_fn,
        precision=precision,
    )
    while not loop.done:
        metrics = loop.run_epoch()
        if report is not None:
            report(metrics)
    return loop.result


class SearchLoop:
    """The search as an epoch loop whose complete state can be saved between epochs.

    ``stateful()`` names the objects with a ``state_dict`` (supernet weights and architecture
    parameters, both optimizers, the splitter's samplers) and ``progress()`` the plain values
    (next epoch, history, architecture trajectory, collapse warning); the RNGs are the caller's
    to save (``workloads.checkpointing`` does both). The learning-rate schedule and the warm-up
    are functions of the epoch, so the next epoch is all they need. Restored into a loop built
    the same way (``load_progress`` and each object's ``load_state_dict``), the remaining epochs
    run exactly as they would have without the interruption.
    """

    def __init__(
        self,
        model: nn.Module,
        support_batches: Any = None,
        query_batches: Any = None,
        cfg: SearchConfig | None = None,
        *,
        splitter: RandomSplit | DomainSplit | None = None,
        loss_fn: LossFn | None = None,
        precision: Precision | None = None,
    ) -> None:
        cfg = cfg or SearchConfig()
        if cfg.mode not in OPTIMIZERS:
            raise ValueError(f"mode must be one of {list(OPTIMIZERS)}; got {cfg.mode!r}")
        variant = OPTIMIZERS[cfg.mode]
        if splitter is None:
            if support_batches is None or query_batches is None:
                raise ValueError("give support_batches and query_batches, or a splitter")
            splitter = RandomSplit(
                as_batches(support_batches, cfg.batch_size, cfg.seed),
                as_batches(query_batches, cfg.batch_size, cfg.seed + 1),
            )
        if variant.needs_domains and not isinstance(splitter, DomainSplit):
            raise ValueError(f"{variant.label} (mode={cfg.mode!r}) needs a DomainSplit")
        self.model, self.cfg, self.splitter = model, cfg, splitter
        self.optimizer = variant(model, cfg, loss_fn or default_loss(cfg.loss), precision)
        self.result = SearchResult(genotype=model.genotype())  # type: ignore[operator]
        self.epoch = 0  # the next epoch to run
        self.warned = False
        self.stopped = False

    @property
    def done(self) -> bool:
        return self.stopped or self.epoch >= self.cfg.epochs

    def stateful(self) -> dict[str, Any]:
        return {"model": self.model, **self.optimizer.checkpointables(), "splitter": self.splitter}

    def progress(self) -> dict[str, Any]:
        r = self.result
        return {
            "next_epoch": self.epoch,
            "warmup_epochs": self.cfg.warmup_epochs,
            "history": r.history,
            "trajectory": r.trajectory,
            "genotype": r.genotype.to_json(indent=None),
            "collapse": r.collapse,
            "warned": self.warned,
            "stopped": self.stopped,
        }

    def load_progress(self, progress: Mapping[str, Any]) -> None:
        self.epoch = int(progress["next_epoch"])
        self.result = SearchResult(
            Genotype.from_json(progress["genotype"]),
            list(progress["history"]),
            list(progress["trajectory"]),
            str(progress["collapse"]),
        )
        self.warned, self.stopped = bool(progress["warned"]), bool(progress["stopped"])

    def run_epoch(self) -> dict[str, Any]:
        """Run the next epoch; its metrics (also appended to ``result.history``)."""
        cfg, model, epoch = self.cfg, self.model, self.epoch
        self.optimizer.new_epoch(epoch)
        metrics: dict[str, Any] = search_epoch(self.optimizer, self.splitter, epoch)
        genotype = model.genotype()  # type: ignore[operator]
        ops = genotype.ops()
        metrics["skip_share"] = sum(op == "skip_connect" for op in ops) / len(ops)
        metrics["param_free_share"] = sum(is_parameter_free(op) for op in ops) / len(ops)
        reason = (
            collapse_reason(genotype, max_skip=cfg.collapse_max_skip)
            if epoch >= cfg.warmup_epochs
            else ""
        )
        metrics["collapse_warning"] = float(bool(reason))
        if reason and not self.warned:
            warnings.warn(
                f"search epoch {epoch}: genotype looks collapsed ({reason}); consider a larger "
                "batch, a lower arch lr or early stopping",
                SearchCollapseWarning,
                stacklevel=3,
            )
            self.warned = True
        summary = model.arch_summary()  # type: ignore[operator]
        if cfg.report_arch:
            metrics.update(arch_metrics(model))
        if cfg.report_genotype:
            metrics["genotype"] = genotype.to_json(indent=None)
        self.result.history.append(metrics)
        self.result.trajectory.append({"epoch": epoch, **summary})
        self.result.genotype, self.result.collapse = genotype, reason
        self.epoch += 1
        self.stopped = bool(reason and cfg.stop_on_collapse)
        return metrics
