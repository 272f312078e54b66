"""The fast mixed op (``none`` skipped, one shared ReLU, channels_last) computes what the plain
PC-DARTS mixed op computes: outputs and gradients (weights, alphas, betas) within 1e-5."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search_spaces.ops import FactorizedReduce, ReLUConvBN, SepConv, relu_tail
from search_spaces.spaces import SPACES, make_space
from search_spaces.supernet import MixedOp, ReferenceMixedOp, build_supernet

TOL = {"atol": 1e-5, "rtol": 1e-5}


def grads(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, params))


@pytest.mark.parametrize("name", SPACES.names())
@pytest.mark.parametrize(("k", "stride"), [(1, 1), (4, 1), (4, 2)])
def test_mixed_op_matches_the_reference(name: str, k: int, stride: int) -> None:
    ops = make_space(name).op_names
    torch.manual_seed(0)
    fast = MixedOp(ops, 8, stride, k)
    ref = ReferenceMixedOp(ops, 8, stride, k)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 8, 7, 7)
    alpha = torch.randn(len(ops), requires_grad=True)
    target = torch.randn_like(fast(x, torch.softmax(alpha, 0)))
    results = []
    for op in (fast, ref):
        xi = x.clone().requires_grad_()
        out = op(xi, torch.softmax(alpha, 0))
        params = [xi, alpha, *op.parameters()]
        results.append((out, grads((out * target).sum(), params)))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", SPACES.names())
def test_supernet_matches_the_reference(name: str) -> None:
    """In float64: the identity is mathematical; in float32 a whole supernet's gradients differ by
    summation order alone (1.8e-5 once on CI, with the threads' reduction order under load)."""
    base = {"C": 8} if name.startswith("fas") else {"C": 8, "layers": 3}
    space = make_space(name, **base)
    torch.manual_seed(0)
    fast = build_supernet(space, k=4).double()
    ref = build_supernet(space, k=4, reference=True).double()
    ref.load_state_dict(fast.state_dict())
    assert any(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in fast.parameters()
        if p.dim() == 4 and p.shape[1] > 1
    )
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    results = []
    for net in (fast, ref):
        out = net(x)
        params = [*net.arch_parameters(), *net.weight_parameters()]
        results.append((out, grads(out.square().mean(), params)))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL)
    for (n, a), b in zip(fast.state_dict().items(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, **TOL, msg=n)  # BN running statistics too


def test_relu_tail_only_strips_a_leading_out_of_place_relu() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    for op in (ReLUConvBN(4, 4, 3, 1, 1), SepConv(4, 4, 3, 2, 1), FactorizedReduce(4, 4)):
        tail = relu_tail(op)
        assert tail is not None
        torch.testing.assert_close(tail(torch.relu(x)), op(x))
    in_place = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(4, 4, 1))
    assert relu_tail(in_place) is None
    assert relu_tail(nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())) is None
    assert relu_tail(nn.MaxPool2d(3, 1, 1)) is None
    assert relu_tail(nn.Sequential(nn.Sequential(nn.ReLU(inplace=True)), nn.Identity())) is None


@pytest.mark.parametrize("name", ["autofas", "baseline_cd"])
def test_double_backward_matches_the_reference(name: str) -> None:
    """The meta second order differentiates through the weight gradients (create_graph).
    In float64: second derivatives through batch norm on a batch of two are ill-conditioned
    enough that float32 rounding alone moves them by ~1e-3."""
    space = make_space(name, C=8, layers=3)
    torch.manual_seed(0)
    fast = build_supernet(space, k=4).double()
    ref = build_supernet(space, k=4, reference=True).double()
    ref.load_state_dict(fast.state_dict())
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    results = []
    for net in (fast, ref):
        w, arch = list(net.weight_parameters()), list(net.arch_parameters())
        g = torch.autograd.grad(net(x).square().mean(), w, create_graph=True)
        results.append(grads(sum(gi.square().sum() for gi in g), [*arch, *w]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_fast_cell_forward_matches_the_reference_cell() -> None:
    """A fast cell called on tensors (its concatenated output) equals the plain cell."""
    space = make_space("baseline_van", C=8, layers=3)
    torch.manual_seed(0)
    fast = build_supernet(space, k=4)
    ref = build_supernet(space, k=4, reference=True)
    ref.load_state_dict(fast.state_dict())
    s0, s1 = torch.randn(2, 24, 8, 8), torch.randn(2, 24, 8, 8)
    outs = [net.cells[0](s0, s1, *net.cell_args()["normal"]) for net in (fast, ref)]
    torch.testing.assert_close(outs[0], outs[1], **TOL)
