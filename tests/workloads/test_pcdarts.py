"""PC-DARTS search: bi-level steps, warm-up, second order, splitters, D/T-Meta-NAS, guards."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch

import workloads.nas.architect as architect_mod
from search_spaces.genotypes import Genotype
from search_spaces.spaces import make_space
from search_spaces.supernet import build_supernet
from workloads.nas.architect import Architect
from workloads.nas.config import SearchCollapseWarning, SearchConfig, Task
from workloads.nas.loop import search
from workloads.nas.objective import default_loss
from workloads.nas.splits import DomainSplit, batches_by_domain, random_halves, tensor_batches

S = 16  # input side; maps are 2x2


def tiny_net(name: str = "fas_van", seed: int = 0, **kw: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    base = {"C": 8} if name.startswith("fas") else {"C": 8, "layers": 3}
    return build_supernet(make_space(name, **{**base, **kw}), k=4)


def data(n: int = 8, seed: int = 0, domain: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, S, S, generator=g)
    labels = torch.arange(n) % 2
    maps = labels.float().view(-1, 1, 1).expand(n, 2, 2).clone()
    return x, maps, labels, torch.full((n,), domain)


def snapshot(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def changed(before: list[torch.Tensor], params: list[torch.nn.Parameter]) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, params, strict=True))


def cfg(**kw: object) -> SearchConfig:
    base = dict(epochs=1, warmup_epochs=0, w_lr=1e-2, arch_lr=1e-2, report_arch=False)
    return SearchConfig(**{**base, **kw})


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
def test_one_step_changes_weights_and_arch() -> None:
    net = tiny_net("autofas")
    w0, a0 = snapshot(net.weight_parameters()), snapshot(net.arch_parameters())
    search(net, [data(4, 0)], [data(4, 1)], cfg())
    assert changed(w0, net.weight_parameters())
    assert all(not torch.equal(b, p) for b, p in zip(a0, net.arch_parameters(), strict=True))


def test_warmup_keeps_arch_bit_identical() -> None:
    net = tiny_net("fas_cd")
    w0, a0 = snapshot(net.weight_parameters()), snapshot(net.arch_parameters())
    history = search(net, [data(4, 0)], [data(4, 1)], cfg(epochs=2, warmup_epochs=2)).history
    assert changed(w0, net.weight_parameters())
    assert not changed(a0, net.arch_parameters())
    assert [h["arch_frozen"] for h in history] == [1.0, 1.0]


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
def test_report_per_epoch() -> None:
    net = tiny_net("baseline_cd", layers=2)
    reports: list[dict] = []
    c = cfg(epochs=2, batch_size=4, report_arch=True, max_steps_per_epoch=1)
    search(net, data(8, 0), data(8, 1), c, reports.append)
    assert [r["epoch"] for r in reports] == [0.0, 1.0]
    r = reports[-1]
    assert r["steps"] == 1 and 0.0 <= r["acc_query"] <= 1.0 and r["loss_query"] > 0
    g = Genotype.from_json(r["genotype"])
    assert g.space == "baseline_cd"
    weights = [v for k, v in r.items() if k.startswith("arch/normal/e00/")]
    assert len(weights) == 8 and sum(weights) == pytest.approx(1.0)
    assert r["arch/reduce/beta/e00"] + r["arch/reduce/beta/e01"] == pytest.approx(1.0)
    assert all(isinstance(v, float) for k, v in r.items() if k != "genotype")


def test_ce_head_and_sgd_cosine() -> None:
    net = tiny_net("baseline_van", head="ce")
    c = SearchConfig.auto_fas(epochs=2, warmup_epochs=1, report_arch=False)
    assert c.w_optimizer == "sgd" and c.arch_lr == 6e-3
    h = search(net, [data(4, 0)], [data(4, 1)], c).history
    assert h[1]["lr"] < h[0]["lr"] == pytest.approx(0.05)


def test_second_order_step_runs_and_restores_weights() -> None:
    net = tiny_net("autofas", layers=2)
    arch = Architect(net, cfg(unrolled=True), default_loss())
    w0, a0 = snapshot(net.weight_parameters()), snapshot(net.arch_parameters())
    loss, acc = arch.step([data(4, 0)], data(4, 1), xi=1e-2)
    assert loss > 0 and 0 <= acc <= 1
    assert not changed(w0, net.weight_parameters())  # the virtual step leaves no trace
    assert changed(a0, net.arch_parameters())
    search(tiny_net(), [data(4, 0)], [data(4, 1)], cfg(unrolled=True))


def test_finite_difference_hvp_matches_autograd() -> None:
    """The unrolled arch gradient equals d_alpha - xi * (d2 L_train / d alpha d w) . d_w'."""
    net = tiny_net("autofas").double()
    sup = tuple(t.double() if t.is_floating_point() else t for t in data(4, 0))
    qry = tuple(t.double() if t.is_floating_point() else t for t in data(4, 1))
    loss_fn, xi = default_loss(), 0.05
    arch = Architect(net, cfg(unrolled=True, w_weight_decay=0.0, unrolled_eps=1e-5), loss_fn)
    got, _, _ = arch.unrolled_grads([sup], qry, xi)
    # exact: the same quantities with double backward
    w = net.weight_parameters()
    a = net.arch_parameters()
    g = torch.autograd.grad(loss_fn(net(sup[0]), sup), w, allow_unused=True)
    names = [n for n, p in net.named_parameters() if any(p is q for q in w)]
    virtual = {
        n: (p - xi * (gi if gi is not None else 0)).detach().requires_grad_()
        for n, p, gi in zip(names, w, g, strict=True)
    }
    out = torch.func.functional_call(net, virtual, (qry[0],))
    grads = torch.autograd.grad(loss_fn(out, qry), [*a, *virtual.values()], allow_unused=True)
    d_alpha, d_w = grads[: len(a)], grads[len(a) :]
    d_w = [torch.zeros_like(p) if d is None else d for p, d in zip(w, d_w, strict=True)]
    g = torch.autograd.grad(loss_fn(net(sup[0]), sup), w, create_graph=True, allow_unused=True)
    dot = sum((gi * d).sum() for gi, d in zip(g, d_w, strict=True) if gi is not None)
    hvp = torch.autograd.grad(dot, a, allow_unused=True)
    for gg, da, h in zip(got, d_alpha, hvp, strict=True):
        exact = da - xi * (h if h is not None else 0)
        torch.testing.assert_close(gg, exact, rtol=1e-5, atol=1e-9)


def test_random_halves_partition() -> None:
    s, q = random_halves(11, seed=3)
    assert sorted(torch.cat([s, q]).tolist()) == list(range(11)) and len(s) == 5
    assert torch.equal(random_halves(11, seed=3)[0], s)
    assert [len(b[0]) for b in tensor_batches(data(10), 4)] == [4, 4, 2]


class RecordingSplit(DomainSplit):
    """Records every task it hands out (the instrumentation of the no-mixing test)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)
        self.tasks: list[Task] = []

    def epoch(self, epoch: int):
        for task in super().epoch(epoch):
            self.tasks.append(task)
            yield task


def domain_data(n_domains: int = 3) -> dict[str, list]:
    parts = [data(4, seed=d, domain=d) for d in range(n_domains)]
    cat = [torch.cat([p[k] for p in parts]) for k in range(4)]
    names = [f"d{int(i)}" for i in cat[3]]
    return batches_by_domain(cat, names, batch_size=2)


def test_domain_split_resamples_the_query_domain() -> None:
    split = DomainSplit(domain_data(3), steps_per_epoch=30, seed=0)
    tasks = list(split.epoch(0))
    assert len(tasks) == 30 and {t.query[0] for t in tasks} == {"d0", "d1", "d2"}


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
@pytest.mark.parametrize("mode", ["nas", "meta"])
def test_domain_aware_support_and_query_never_mix(mode: str) -> None:
    net = tiny_net()
    split = RecordingSplit(domain_data(3), seed=0)
    seen: list[set[int]] = []
    base = default_loss()

    def loss_fn(out: torch.Tensor, batch) -> torch.Tensor:
        seen.append(set(batch[3].tolist()))
        return base(out, batch)

    res = search(net, cfg=cfg(epochs=2, mode=mode), splitter=split, loss_fn=loss_fn)
    assert len(res.history) == 2 and len(split.tasks) == 4
    for task in split.tasks:
        q_name, q_batch = task.query
        support_names = [d for d, _ in task.support]
        assert q_name not in support_names and len(set(support_names)) == 2
        for name, batch in [*task.support, task.query]:
            assert set(batch[3].tolist()) == {int(name[1:])}
    assert all(len(s) == 1 for s in seen)  # no loss ever saw two domains at once
    if mode == "meta":
        # per task: (inner on a support domain, learner on the query domain) x 2, then the arch
        per_task = 2 * 2 + 1
        for k, task in enumerate(split.tasks):
            calls = seen[k * per_task : (k + 1) * per_task]
            q = {int(task.query[0][1:])}
            sup = [{int(d[1:])} for d, _ in task.support]
            assert calls == [sup[0], q, sup[1], q, q]


def _query_arch_grads(net: torch.nn.Module, query) -> list[torch.Tensor]:
    """The first-order architecture gradient of the query loss at ``net``'s current weights."""
    net.train()
    loss = default_loss()(net(query[0]), query)
    return list(torch.autograd.grad(loss, net.arch_parameters()))


def _close(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=1e-4, atol=1e-9) for x, y in zip(a, b, strict=True))


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
@pytest.mark.parametrize("mode", ["nas", "meta"])
def test_arch_gradient_is_taken_at_the_pre_update_weights_except_in_meta_mode(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """PC-DARTS (and D/T-NAS) step the architecture before the weights; D/T-Meta-NAS after the
    meta-update (NAS-FAS eq. 14). One step, compared with gradients computed independently."""
    net = tiny_net("fas_van")
    before = copy.deepcopy(net)
    arch_ids = {id(p) for p in net.arch_parameters()}
    recorded: list[list[torch.Tensor]] = []
    real_apply = architect_mod.apply_grads

    def apply(opt, params, grads, clip, scaler=None) -> None:
        if id(params[0]) in arch_ids:
            recorded.append([g.detach().clone() for g in grads])
        real_apply(opt, params, grads, clip, scaler)

    monkeypatch.setattr(architect_mod, "apply_grads", apply)
    if mode == "nas":
        query = data(4, 1)
        search(net, [data(4, 0)], [query], cfg())
    else:
        split = RecordingSplit(domain_data(2), steps_per_epoch=1, seed=0)
        search(net, cfg=cfg(mode="meta", meta_lr=1e-2), splitter=split)
        query = split.tasks[0].query[1]
    (got,) = recorded
    pre = _query_arch_grads(before, query)
    updated = copy.deepcopy(net)  # the weights after the step, the architecture before it
    with torch.no_grad():
        for p, p0 in zip(updated.arch_parameters(), before.arch_parameters(), strict=True):
            p.copy_(p0)
    post = _query_arch_grads(updated, query)
    want, other = (pre, post) if mode == "nas" else (post, pre)
    assert _close(got, want)
    assert not _close(got, other)  # the weight step did move the gradient: the check has teeth


def test_meta_mode_needs_domains() -> None:
    with pytest.raises(ValueError, match="DomainSplit"):
        search(tiny_net(), [data(4)], [data(4)], cfg(mode="meta"))
    with pytest.raises(ValueError, match=">= 2 domains"):
        DomainSplit({"only": [data(2)]})


def test_meta_second_order_runs() -> None:
    net = tiny_net("fas_cd")
    w0 = snapshot(net.weight_parameters())
    split = DomainSplit(domain_data(2), steps_per_epoch=1)
    search(net, cfg=cfg(mode="meta", meta_second_order=True, meta_lr=1e-2), splitter=split)
    assert changed(w0, net.weight_parameters())


def test_collapse_guard_warns() -> None:
    net = tiny_net("autofas", layers=2)
    skip = net.space.op_names.index("skip_connect")
    with torch.no_grad():
        net.alphas["normal"][:, skip] = 5.0
    with pytest.warns(SearchCollapseWarning, match="skip_connect"):
        res = search(
            net, [data(4)], [data(4, 1)], cfg(epochs=2, arch_lr=0.0, stop_on_collapse=True)
        )
    assert res.history[-1]["collapse_warning"] == 1.0 and len(res.history) == 1
    assert res.history[-1]["skip_share"] >= 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = tiny_net("autofas", layers=2)  # no warning during warm-up
        search(net, [data(4)], [data(4, 1)], cfg(epochs=1, warmup_epochs=1))


def test_trajectory_is_json() -> None:
    res = search(tiny_net("fas_van"), [data(4)], [data(4, 1)], cfg(epochs=2))
    assert len(res.trajectory) == 2
    back = json.loads(json.dumps(res.trajectory))
    assert set(back[0]) == {"epoch", "low", "mid", "high"}
    assert len(back[0]["low"]["alpha"]) == 4 and back[0]["low"]["beta"] == []
