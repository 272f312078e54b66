"""PC-DARTS search: the architect, support/query splitters, the NAS / D/T-NAS / D/T-Meta-NAS loop.

Plain Python: batches in (lists or DataLoaders of ``(images, maps, labels, *extra)``), a
``report(dict)`` per epoch out. The weights are trained on the support side, the architecture on
the query side (bi-level, first order by default, DARTS's unrolled second order on request); the
architecture stays frozen for ``warmup_epochs``.

* NAS: random halves of the training set (``RandomSplit``).
* D/T-NAS: ``DomainSplit`` over N source domains (or attack types): each step draws one query
  domain and one batch of every other domain as support.
* D/T-Meta-NAS (NAS-FAS Algorithm 1, ``mode="meta"``): per support domain one inner SGD step of
  the weights (a domain learner), a meta-update of the weights with the sum of the learners'
  query losses, then the architecture update on the query loss at the meta-updated weights.

``search`` runs all epochs; ``SearchLoop`` runs them one at a time with a complete state between
epochs (``stateful``, ``progress``), so an interrupted search continues exactly where it stopped.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from search_spaces.genotypes import Genotype, collapse_reason
from search_spaces.spaces import is_parameter_free
from workloads.losses import map_loss, map_score

__all__ = [
    "Architect",
    "DomainSplit",
    "RandomSplit",
    "SearchCollapseWarning",
    "SearchConfig",
    "SearchDiverged",
    "SearchLoop",
    "SearchResult",
    "Task",
    "batches_by_domain",
    "default_loss",
    "random_halves",
    "search",
    "search_epoch",
    "tensor_batches",
]

Batch = Sequence[torch.Tensor]
LossFn = Callable[[torch.Tensor, Batch], torch.Tensor]


class SearchDiverged(RuntimeError):
    """A non-finite loss: the trial fails instead of reporting garbage."""


class SearchCollapseWarning(UserWarning):
    """The derived genotype is dominated by skip connections / parameter-free ops."""


@dataclass(frozen=True)
class SearchConfig:
    """Search hyper-parameters; defaults follow the NAS-FAS search (see ``auto_fas()``)."""

    epochs: int = 60
    warmup_epochs: int = 15
    w_optimizer: str = "adam"  # "adam" | "sgd" (momentum)
    w_lr: float = 1e-4
    w_lr_min: float = 0.0
    w_schedule: str = "constant"  # "constant" | "cosine"
    w_momentum: float = 0.9
    w_weight_decay: float = 5e-5
    grad_clip: float = 5.0
    arch_lr: float = 6e-4
    arch_weight_decay: float = 1e-3
    arch_betas: tuple[float, float] = (0.5, 0.999)
    unrolled: bool = False
    unrolled_eps: float = 0.01  # finite-difference step: eps = unrolled_eps / ||dL_val/dw'||
    mode: str = "nas"  # "nas" (NAS and D/T-NAS) | "meta" (D/T-Meta-NAS)
    inner_lr: float = 1e-4
    meta_lr: float = 1e-4
    meta_second_order: bool = False
    loss: str = "binary"  # map heads: "binary" | "depth"; ce heads always use BCE on labels
    batch_size: int = 10  # only used to cut raw tensors into batches
    max_steps_per_epoch: int | None = None
    report_arch: bool = True
    report_genotype: bool = True
    collapse_max_skip: int = 2
    stop_on_collapse: bool = False
    seed: int = 0

    @classmethod
    def nas_fas(cls, **kw: Any) -> SearchConfig:
        return cls(**kw)

    @classmethod
    def auto_fas(cls, **kw: Any) -> SearchConfig:
        base = dict(
            epochs=40, w_optimizer="sgd", w_lr=0.05, w_schedule="cosine", w_weight_decay=1e-4
        )
        return cls(**{**base, "arch_lr": 6e-3, **kw})


@dataclass
class Task:
    """One search step's data: ``support`` as (domain, batch) pairs, ``query`` one pair."""

    support: list[tuple[str, Batch]]
    query: tuple[str, Batch]


class RandomSplit:
    """NAS: pair the support and query iterables batch by batch (re-iterated every epoch)."""

    def __init__(self, support: Iterable[Batch], query: Iterable[Batch]) -> None:
        self.support, self.query = support, query

    def epoch(self, epoch: int) -> Iterator[Task]:
        for bs, bq in zip(self.support, self.query, strict=False):
            yield Task([("support", bs)], ("query", bq))

    def state_dict(self) -> dict[str, Any]:
        return {"support": _source_state(self.support), "query": _source_state(self.query)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load_source_state(self.support, state["support"])
        _load_source_state(self.query, state["query"])


class DomainSplit:
    """D/T-aware split: each step one random query domain, a batch of each other as support.

    ``domains`` maps a domain (dataset or attack type) to its batches; each is cycled
    independently, so a batch never mixes domains. Steps per epoch: ``steps_per_epoch`` or the
    shortest domain's length.
    """

    def __init__(
        self,
        domains: Mapping[str, Iterable[Batch]],
        steps_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if len(domains) < 2:
            raise ValueError(f"a domain-aware split needs >= 2 domains; got {list(domains)}")
        self.domains = dict(domains)
        lengths = [len(d) for d in self.domains.values() if isinstance(d, Sized)]
        self.steps = steps_per_epoch or (min(lengths) if lengths else 1)
        self.rng = random.Random(seed)

    def _cycle(self, name: str) -> Iterator[Batch]:
        while True:
            yield from self.domains[name]

    def epoch(self, epoch: int) -> Iterator[Task]:
        its = {name: self._cycle(name) for name in self.domains}
        names = list(self.domains)
        for _ in range(self.steps):
            q = self.rng.choice(names)
            support = [(d, next(its[d])) for d in names if d != q]
            yield Task(support, (q, next(its[q])))

    def state_dict(self) -> dict[str, Any]:
        # each epoch re-iterates every domain from its start: the sources' samplers and the
        # query-domain draw are the whole state
        return {
            "rng": self.rng.getstate(),
            "domains": {name: _source_state(src) for name, src in self.domains.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        for name, src in self.domains.items():
            _load_source_state(src, state["domains"][name])


def _source_state(source: Any) -> Any:
    """A batch source's sampler state: its own ``state_dict``, a DataLoader's generator, or
    None (a list is re-iterated unchanged; a loader without a generator draws from torch's
    global RNG, which the caller saves)."""
    if hasattr(source, "state_dict"):
        return source.state_dict()
    gen = getattr(source, "generator", None)
    return {"generator": gen.get_state()} if isinstance(gen, torch.Generator) else None


def _load_source_state(source: Any, state: Any) -> None:
    if state is None:
        return
    if hasattr(source, "load_state_dict"):
        source.load_state_dict(state)
    else:
        source.generator.set_state(state["generator"])


def tensor_batches(
    tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool = True, seed: int = 0
) -> list[tuple[torch.Tensor, ...]]:
    """Cut aligned tensors (images, maps, labels, ...) into batches (last partial one kept)."""
    n = len(tensors[0])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else None
    idx = order if order is not None else torch.arange(n)
    return [tuple(t[idx[i : i + batch_size]] for t in tensors) for i in range(0, n, batch_size)]


def random_halves(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """NAS's support/query split: a random half of the indices each."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2], perm[n // 2 :]


def batches_by_domain(
    tensors: Sequence[torch.Tensor], domains: Sequence[str], batch_size: int, seed: int = 0
) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Per domain, batches of its own samples only (input of ``DomainSplit``)."""
    out = {}
    for k, d in enumerate(sorted(set(domains))):
        idx = torch.tensor([i for i, x in enumerate(domains) if x == d])
        out[d] = tensor_batches([t[idx] for t in tensors], batch_size, seed=seed + k)
    return out


def default_loss(kind: str = "binary") -> LossFn:
    """Map heads: ``map_loss(kind)`` against the batch's map (resized to the output); scalar
    heads: BCE on the label (1 = bona fide)."""

    def loss(out: torch.Tensor, batch: Batch) -> torch.Tensor:
        if out.dim() == 1:
            return F.binary_cross_entropy_with_logits(out, batch[2].to(out.dtype))
        target = batch[1].to(out.dtype)
        if target.shape[-2:] != out.shape[-2:]:
            target = F.adaptive_avg_pool2d(target.unsqueeze(1), out.shape[-2:]).squeeze(1)
        return map_loss(kind, out, target)

    return loss


def _accuracy(out: torch.Tensor, batch: Batch, kind: str) -> float:
    score = torch.sigmoid(out) if out.dim() == 1 else map_score(kind, out)
    return float(((score >= 0.5).long() == batch[2].long()).float().mean())


def _to(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in batch)


def _named_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    arch = {id(p) for p in model.arch_parameters()}  # type: ignore[operator]
    return {n: p for n, p in model.named_parameters() if id(p) not in arch}


def _check(loss: torch.Tensor, where: str) -> torch.Tensor:
    if not torch.isfinite(loss):
        raise SearchDiverged(f"non-finite {where} loss ({float(loss)}); lower the learning rate")
    return loss


def _apply(opt: torch.optim.Optimizer, params: list, grads: Sequence, clip: float) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = None if g is None else g.detach()
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    opt.step()


class Architect:
    """Updates alphas/betas: Adam(lr, betas=(0.5, 0.999), wd) on the query loss.

    First order: the gradient at the current weights. Second order (``unrolled``): the gradient
    at one virtual SGD step of the weights, minus ``xi`` times the finite-difference
    Hessian-vector product (DARTS eq. 7-8).
    """

    def __init__(self, model: nn.Module, cfg: SearchConfig, loss_fn: LossFn) -> None:
        self.model, self.cfg, self.loss_fn = model, cfg, loss_fn
        self.params = list(model.arch_parameters())  # type: ignore[operator]
        self.opt = torch.optim.Adam(
            self.params, lr=cfg.arch_lr, betas=cfg.arch_betas, weight_decay=cfg.arch_weight_decay
        )

    def _support_loss(self, support: list[Batch], weights: dict | None = None) -> torch.Tensor:
        losses = []
        for b in support:
            out = (
                self.model(b[0])
                if weights is None
                else functional_call(self.model, weights, (b[0],))
            )
            losses.append(self.loss_fn(out, b))
        return torch.stack(losses).mean()

    def step(self, support: list[Batch], query: Batch, xi: float) -> tuple[float, float]:
        """One architecture update; returns the query (loss, accuracy)."""
        if self.cfg.unrolled:
            grads, out, loss = self._unrolled_grads(support, query, xi)
        else:
            out = self.model(query[0])
            loss = _check(self.loss_fn(out, query), "query")
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        _apply(self.opt, self.params, grads, 0.0)
        return float(loss.detach()), _accuracy(out.detach(), query, self.cfg.loss)

    def _unrolled_grads(self, support: list[Batch], query: Batch, xi: float) -> tuple:
        weights = _named_weights(self.model)
        names, w = list(weights), list(weights.values())
        g = torch.autograd.grad(self._support_loss(support), w, allow_unused=True)
        wd = self.cfg.w_weight_decay
        virtual = {
            n: (p - xi * ((gi if gi is not None else 0) + wd * p)).detach().requires_grad_()
            for n, p, gi in zip(names, w, g, strict=True)
        }
        out = functional_call(self.model, virtual, (query[0],))
        loss = _check(self.loss_fn(out, query), "query")
        grads = torch.autograd.grad(loss, [*self.params, *virtual.values()], allow_unused=True)
        d_alpha, d_w = grads[: len(self.params)], grads[len(self.params) :]
        d_w = [torch.zeros_like(p) if d is None else d for p, d in zip(w, d_w, strict=True)]
        eps = float(self.cfg.unrolled_eps / (torch.cat([d.flatten() for d in d_w]).norm() + 1e-12))
        saved = [p.detach().clone() for p in w]
        hvp = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, p0, d in zip(w, saved, d_w, strict=True):
                    p.copy_(p0 + sign * eps * d)
            hvp.append(
                torch.autograd.grad(self._support_loss(support), self.params, allow_unused=True)
            )
        with torch.no_grad():
            for p, p0 in zip(w, saved, strict=True):
                p.copy_(p0)
        implicit = [
            None if gp is None else (gp - gm) / (2 * eps)
            for gp, gm in zip(hvp[0], hvp[1], strict=True)
        ]
        out_grads = [
            None if da is None else (da if h is None else da - xi * h)
            for da, h in zip(d_alpha, implicit, strict=True)
        ]
        return out_grads, out, loss


def weight_step(
    model: nn.Module, opt: torch.optim.Optimizer, task: Task, loss_fn: LossFn, cfg: SearchConfig
) -> tuple[float, float]:
    """NAS / D/T-NAS: one step on the mean loss over the support batches."""
    w = list(_named_weights(model).values())
    losses, accs = [], []
    for _, b in task.support:
        out = model(b[0])
        losses.append(loss_fn(out, b))
        accs.append(_accuracy(out.detach(), b, cfg.loss))
    loss = _check(torch.stack(losses).mean(), "support")
    _apply(opt, w, torch.autograd.grad(loss, w, allow_unused=True), cfg.grad_clip)
    return float(loss.detach()), sum(accs) / len(accs)


def meta_weight_step(
    model: nn.Module, opt: torch.optim.Optimizer, task: Task, loss_fn: LossFn, cfg: SearchConfig
) -> tuple[float, float]:
    """D/T-Meta-NAS eq. 12-13: inner step per support domain, meta-update on the query domain."""
    weights = _named_weights(model)
    names, w = list(weights), list(weights.values())
    q = task.query[1]
    meta_loss: torch.Tensor | float = 0.0
    inner_losses, accs = [], []
    for _, b in task.support:
        out = model(b[0])
        inner = _check(loss_fn(out, b), "inner")
        accs.append(_accuracy(out.detach(), b, cfg.loss))
        g = torch.autograd.grad(inner, w, create_graph=cfg.meta_second_order, allow_unused=True)
        learner = {
            n: p
            if gi is None
            else p - cfg.inner_lr * (gi if cfg.meta_second_order else gi.detach())
            for n, p, gi in zip(names, w, g, strict=True)
        }
        meta_loss = meta_loss + loss_fn(functional_call(model, learner, (q[0],)), q)
        inner_losses.append(float(inner.detach()))
    assert isinstance(meta_loss, torch.Tensor)
    _check(meta_loss, "meta")
    _apply(opt, w, torch.autograd.grad(meta_loss, w, allow_unused=True), cfg.grad_clip)
    return sum(inner_losses) / len(inner_losses), sum(accs) / len(accs)


def _arch_metrics(model: nn.Module) -> dict[str, float]:
    out: dict[str, float] = {}
    ops = model.space.op_names  # type: ignore[attr-defined]
    for t, s in model.arch_summary().items():  # type: ignore[operator]
        for e, row in enumerate(s["alpha"]):
            out.update(
                {f"arch/{t}/e{e:02d}/{op}": float(v) for op, v in zip(ops, row, strict=True)}
            )
        out.update({f"arch/{t}/beta/e{e:02d}": float(v) for e, v in enumerate(s["beta"])})
    return out


def _arch_step(
    model: nn.Module, architect: Architect, task: Task, frozen: bool, xi: float, loss_fn: LossFn
) -> tuple[float, float]:
    """The architecture update on the task's query (while frozen: only its loss and accuracy)."""
    q = task.query[1]
    if not frozen:
        return architect.step([b for _, b in task.support], q, xi)
    with torch.no_grad():
        out = model(q[0])
        return float(loss_fn(out, q)), _accuracy(out, q, architect.cfg.loss)


def search_epoch(
    model: nn.Module,
    splitter: RandomSplit | DomainSplit,
    architect: Architect,
    w_opt: torch.optim.Optimizer,
    cfg: SearchConfig,
    epoch: int,
    loss_fn: LossFn,
) -> dict[str, float]:
    """One epoch of steps, each a weight step and an arch step (none while warming up).

    NAS and D/T-NAS update the architecture first, at the weights before the step's weight update
    (DARTS / PC-DARTS order, which the second-order gradient's virtual step assumes);
    D/T-Meta-NAS updates it last, at the meta-updated weights (NAS-FAS Algorithm 1, eq. 14).
    """
    device = next(model.parameters()).device
    frozen = epoch < cfg.warmup_epochs
    xi = w_opt.param_groups[0]["lr"]
    sums = dict(loss_support=0.0, acc_support=0.0, loss_query=0.0, acc_query=0.0)
    t_w = t_a = 0.0
    n = 0
    model.train()
    for task in splitter.epoch(epoch):
        task = Task(
            [(d, _to(b, device)) for d, b in task.support],
            (task.query[0], _to(task.query[1], device)),
        )
        t0 = time.perf_counter()
        if cfg.mode == "meta":
            ls, acc_s = meta_weight_step(model, w_opt, task, loss_fn, cfg)
            t1 = time.perf_counter()
            lq, acc_q = _arch_step(model, architect, task, frozen, xi, loss_fn)
            t_w, t_a = t_w + t1 - t0, t_a + time.perf_counter() - t1
        else:
            lq, acc_q = _arch_step(model, architect, task, frozen, xi, loss_fn)
            t1 = time.perf_counter()
            ls, acc_s = weight_step(model, w_opt, task, loss_fn, cfg)
            t_a, t_w = t_a + t1 - t0, t_w + time.perf_counter() - t1
        for k, v in zip(sums, (ls, acc_s, lq, acc_q), strict=True):
            sums[k] += v
        n += 1
        if cfg.max_steps_per_epoch and n >= cfg.max_steps_per_epoch:
            break
    metrics = {k: v / max(1, n) for k, v in sums.items()}
    metrics.update(epoch=float(epoch), arch_frozen=float(frozen), steps=float(n), lr=xi)
    metrics.update(time_weights_s=t_w, time_arch_s=t_a)
    return metrics


@dataclass
class SearchResult:
    genotype: Genotype
    history: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    collapse: str = ""


def _as_batches(data: Any, cfg: SearchConfig, seed: int) -> Iterable[Batch]:
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        if data[0].dim() == 4:  # raw aligned tensors (images, maps, labels, ...)
            return tensor_batches(data, cfg.batch_size, seed=seed)
    return data


def search(
    model: nn.Module,
    support_batches: Any = None,
    query_batches: Any = None,
    cfg: SearchConfig | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    *,
    splitter: RandomSplit | DomainSplit | None = None,
    loss_fn: LossFn | None = None,
) -> SearchResult:
    """Run the search on a supernet (``search_spaces.supernet.build_supernet``).

    Give support/query batches (NAS) or a ``splitter`` (``DomainSplit`` for D/T-NAS, and with
    ``cfg.mode="meta"`` for D/T-Meta-NAS). ``report`` gets per epoch the metrics of
    ``search_epoch``, skip/parameter-free shares, ``collapse_warning``, the softmax arch weights
    as flat ``arch/<cell>/e<edge>/<op>`` floats and ``genotype`` (a JSON string, the only
    non-float value; ``cfg.report_genotype=False`` drops it). ``SearchLoop`` runs the same
    epochs one at a time, with a state to save and restore between them.
    """
    loop = SearchLoop(
        model, support_batches, query_batches, cfg, splitter=splitter, loss_fn=loss_fn
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
    ) -> None:
        cfg = cfg or SearchConfig()
        if cfg.mode not in ("nas", "meta"):
            raise ValueError(f"mode must be 'nas' or 'meta'; got {cfg.mode!r}")
        if splitter is None:
            if support_batches is None or query_batches is None:
                raise ValueError("give support_batches and query_batches, or a splitter")
            splitter = RandomSplit(
                _as_batches(support_batches, cfg, cfg.seed),
                _as_batches(query_batches, cfg, cfg.seed + 1),
            )
        if cfg.mode == "meta" and not isinstance(splitter, DomainSplit):
            raise ValueError("D/T-Meta-NAS (mode='meta') needs a DomainSplit")
        self.model, self.cfg, self.splitter = model, cfg, splitter
        self.loss_fn = loss_fn or default_loss(cfg.loss)
        w = list(_named_weights(model).values())
        self.lr = cfg.meta_lr if cfg.mode == "meta" else cfg.w_lr
        if cfg.w_optimizer == "sgd":
            self.w_opt: torch.optim.Optimizer = torch.optim.SGD(
                w, self.lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay
            )
        elif cfg.w_optimizer == "adam":
            self.w_opt = torch.optim.Adam(w, self.lr, weight_decay=cfg.w_weight_decay)
        else:
            raise ValueError(f"w_optimizer must be 'sgd' or 'adam'; got {cfg.w_optimizer!r}")
        self.architect = Architect(model, cfg, self.loss_fn)
        self.result = SearchResult(genotype=model.genotype())  # type: ignore[operator]
        self.epoch = 0  # the next epoch to run
        self.warned = False
        self.stopped = False

    @property
    def done(self) -> bool:
        return self.stopped or self.epoch >= self.cfg.epochs

    def stateful(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "w_opt": self.w_opt,
            "arch_opt": self.architect.opt,
            "splitter": self.splitter,
        }

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
        if cfg.w_schedule == "cosine":
            frac = epoch / max(1, cfg.epochs)
            lr = cfg.w_lr_min + 0.5 * (self.lr - cfg.w_lr_min) * (1 + math.cos(math.pi * frac))
            for g in self.w_opt.param_groups:
                g["lr"] = lr
        metrics: dict[str, Any] = search_epoch(
            model, self.splitter, self.architect, self.w_opt, cfg, epoch, self.loss_fn
        )
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
            metrics.update(_arch_metrics(model))
        if cfg.report_genotype:
            metrics["genotype"] = genotype.to_json(indent=None)
        self.result.history.append(metrics)
        self.result.trajectory.append({"epoch": epoch, **summary})
        self.result.genotype, self.result.collapse = genotype, reason
        self.epoch += 1
        self.stopped = bool(reason and cfg.stop_on_collapse)
        return metrics
