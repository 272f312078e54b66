"""Mixed precision and channels_last (``workloads.precision``) against plain fp32, on CPU: bf16
autocast within stated tolerances, channels_last equal up to float rounding, a smoke trial end to
end, fp16 refused off CUDA (its loss scaling checked with a CPU scaler)."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from search_spaces.nets import NETWORKS
from tests.workloads.test_pcdarts import cfg, data, tiny_net
from tests.workloads.test_train_eval_resume import PARAMS
from workloads import checkpointing
from workloads.base import SCORE_COLUMNS, WORKLOADS, DataHandle
from workloads.nas.loop import search
from workloads.params import ParamError
from workloads.precision import Precision
from workloads.train_eval import supervised_loss, train_epoch

CPU = torch.device("cpu")
#: Tolerances of bf16 against fp32 (bf16 keeps 8 bits of mantissa: a relative rounding of 2^-9
#: per value). The loss of one step: measured 8e-4. A weight gradient is itself rounded to bf16
#: and sums products of both signs, and towards the input train-mode BatchNorm's backward (a
#: difference of batch means) amplifies the rounding: at initialisation the head's last
#: convolution measured 4e-2 (DepthNet 8e-3) relative to fp32 and the whole gradient a cosine of
#: 0.87 (0.78-0.97 over CDCN/DepthNet with binary and depth losses). What matters holds tightly:
#: loss curves over 8 Adam steps (measured within 0.6 %; 20 steps: 0.6 % binary, 7 % depth).
LOSS_RTOL = 2e-2
HEAD_GRAD_RTOL = 1e-1
GRAD_MIN_COSINE = 0.75


def _handle(root: Path, cache: Path) -> DataHandle:
    return DataHandle(root, "oulu_npu_p1", "p1", cache)


def _net_and_batch(seed: int = 0, n: int = 16):
    """1/8-width CDCN (θ = 0.7) with a binary head on 32 px images, and a batch in which bona
    fide images (label 1) are brighter: a signal the loss can learn."""
    torch.manual_seed(seed)
    net = NETWORKS.get("cdcn")(theta=0.7, width=0.125, input_size=32, depth_head=False)
    x = torch.rand(n, 3, 32, 32)
    labels = (torch.arange(n) % 2).float()
    x[labels == 1] = x[labels == 1] * 0.5 + 0.5
    with torch.no_grad():
        side = net(x).shape[-1]
    maps = labels.view(-1, 1, 1).expand(n, side, side).clone()
    return net, x, maps, labels


def _step(net, precision: Precision, x, maps, labels):
    """One forward/backward of a copy of ``net``: its loss, output and gradients by name."""
    model = precision.prepare(copy.deepcopy(net))
    model.train()
    out = model(precision.batch(x))
    loss = supervised_loss("binary", out, maps, labels)
    loss.backward()
    return loss.detach(), out.detach(), {n: p.grad for n, p in model.named_parameters()}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_bf16_train_step_is_within_tolerance_of_fp32() -> None:
    net, x, maps, labels = _net_and_batch()
    loss32, out32, g32 = _step(net, Precision(CPU), x, maps, labels)
    loss16, out16, g16 = _step(net, Precision.of("bf16", False, CPU), x, maps, labels)
    assert out16.dtype == torch.float32  # the loss sees a float32 output
    assert all(g.dtype == torch.float32 for g in g16.values())  # weights and grads stay fp32
    assert abs(float(loss16 - loss32)) <= LOSS_RTOL * float(loss32)
    last = list(g32)[-1]  # the head's last convolution
    assert _rel(g16[last], g32[last]) <= HEAD_GRAD_RTOL
    flat32, flat16 = (torch.cat([g.flatten() for g in g.values()]) for g in (g32, g16))
    assert float(torch.nn.functional.cosine_similarity(flat16, flat32, dim=0)) >= GRAD_MIN_COSINE


def test_bf16_training_follows_fp32_over_steps() -> None:
    net, x, maps, labels = _net_and_batch()
    curves = []
    for precision in (Precision(CPU), Precision.of("bf16", False, CPU)):
        model = precision.prepare(copy.deepcopy(net))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(x, maps, labels, labels), batch_size=len(x))
        curves.append(
            [train_epoch(model, loader, opt, "binary", CPU, e, precision)[0] for e in range(8)]
        )
    fp32, bf16 = curves
    assert fp32[-1] < fp32[0] and bf16[-1] < bf16[0]
    assert all(abs(a - b) <= LOSS_RTOL * a for a, b in zip(fp32, bf16, strict=True)), curves


def test_channels_last_equals_contiguous_in_fp32() -> None:
    net, x, maps, labels = _net_and_batch()
    loss, out, grads = _step(net, Precision(CPU), x, maps, labels)
    nhwc = Precision.of("fp32", True, CPU)
    loss_cl, out_cl, grads_cl = _step(net, nhwc, x, maps, labels)
    assert nhwc.batch(x).is_contiguous(memory_format=torch.channels_last)
    # Training mode: batch statistics amplify fp32's reordered sums (measured 2e-5).
    torch.testing.assert_close(out_cl, out, rtol=0, atol=1e-4)
    torch.testing.assert_close(loss_cl, loss, rtol=1e-5, atol=0)
    for name, g in grads.items():
        assert _rel(grads_cl[name], g) <= 1e-2, name
    # Inference (scoring) with the running statistics: within 1e-5.
    plain, nhwc_model = copy.deepcopy(net).eval(), nhwc.prepare(copy.deepcopy(net)).eval()
    with torch.no_grad():
        torch.testing.assert_close(nhwc_model(nhwc.batch(x)), plain(x), rtol=0, atol=1e-5)


def test_smoke_trial_in_bf16_and_channels_last_runs_end_to_end(
    smoke_root: Path, tmp_path: Path
) -> None:
    params = {**PARAMS, "epochs": 1, "precision": "bf16", "channels_last": True}
    reports: list[dict] = []
    result = WORKLOADS.get("train_eval").run_trial(
        params, _handle(smoke_root, tmp_path / "cache"), reports.append
    )
    assert [r["epoch"] for r in reports] == [1]
    assert list(result.scores.columns) == SCORE_COLUMNS
    assert result.scores["score"].dtype.kind == "f" and result.scores["score"].notna().all()
    assert {"dev", "test"} <= set(result.scores["split"])
    assert 0.0 <= result.metrics["test_acer"] <= 1.0
    weights = torch.load(io.BytesIO(result.artifacts["model.pt"]), weights_only=True)
    assert all(w.dtype == torch.float32 for w in weights.values() if w.is_floating_point())


def test_fp16_on_cpu_is_refused_naming_the_param(smoke_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match=r"^precision='fp16': expected fp32 or bf16 on a cpu"):
        Precision.of("fp16", False, CPU)
    data = _handle(smoke_root, tmp_path / "cache")
    for name in ("train_eval", "nas_search"):
        params = PARAMS if name == "train_eval" else {"space": "autofas", "epochs": 1}
        with pytest.raises(ParamError, match="precision='fp16'"):
            WORKLOADS.get(name).run_trial({**params, "precision": "fp16"}, data, print)
    with pytest.raises(ParamError, match="precision='fp8': expected one of fp32, bf16, fp16"):
        WORKLOADS.get("train_eval").parse({**PARAMS, "precision": "fp8"})


def _cpu_fp16() -> Precision:
    """fp16 with loss scaling on CPU (what a CUDA trial gets; trials refuse it on CPU)."""
    return Precision(CPU, "fp16", False, torch.amp.GradScaler("cpu", init_scale=2.0**10))


def test_fp16_loss_scaling_steps_and_its_state_is_checkpointed() -> None:
    net, x, maps, labels = _net_and_batch()
    fp16 = _cpu_fp16()
    model = fp16.prepare(copy.deepcopy(net))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, maps, labels, labels), batch_size=8)
    before = [p.detach().clone() for p in model.parameters()]
    loss, n = train_epoch(model, loader, opt, "binary", CPU, 1, fp16)
    assert n == len(x) and loss > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    fp16.scaler.update(2.0**5)  # a scale a run may have reached
    blob = checkpointing.save_state(1, {"opt": opt, **fp16.stateful()})
    resumed = _cpu_fp16()
    state = torch.load(io.BytesIO(blob), weights_only=True)
    checkpointing.restore(
        state, {"opt": torch.optim.Adam(model.parameters()), **resumed.stateful()}
    )
    assert resumed.scaler.get_scale() == 2.0**5
    assert Precision(CPU).stateful() == {"scaler": None}  # fp32 checkpoints are unchanged


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
def test_search_steps_in_bf16_channels_last_and_fp16_first_order_only() -> None:
    for precision in (Precision.of("bf16", True, CPU), _cpu_fp16()):
        net = precision.prepare(tiny_net("fas_cd"))
        arch = [a.detach().clone() for a in net.arch_parameters()]
        result = search(net, [data(4, 0)], [data(4, 1)], cfg(epochs=2), precision=precision)
        assert all(torch.isfinite(torch.tensor(h["loss_support"])) for h in result.history)
        assert any(not torch.equal(a, b) for a, b in zip(arch, net.arch_parameters(), strict=True))
    net = _cpu_fp16().prepare(tiny_net("fas_cd"))
    with pytest.raises(ParamError, match="precision='fp16': expected fp32 or bf16 for NAS"):
        search(net, [data(4, 0)], [data(4, 1)], cfg(unrolled=True), precision=_cpu_fp16())
