"""``recompute(module, x)`` computes what ``module(x)`` computes (outputs, gradients, double
backward, batch-norm statistics) while keeping only its input for backward."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from search_spaces.ops import FactorizedReduce, ReLUConvBN
from search_spaces.recompute import recompute

TOL = {"atol": 1e-5, "rtol": 1e-5}


def modules() -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        ReLUConvBN(6, 4, 1, 1, 0, affine=False),
        ReLUConvBN(6, 4, 3, 1, 1, affine=True),
        FactorizedReduce(6, 4, affine=False),
        nn.MaxPool2d(3, 2, 1),
    ]


def saved_storages(fn) -> dict[int, int]:  # type: ignore[no-untyped-def]
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return seen, out


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("train", [True, False])
def test_recompute_matches_the_module(index: int, train: bool) -> None:
    plain = modules()[index].train(train)
    fast = copy.deepcopy(plain)
    x = torch.randn(3, 6, 7, 7)
    results = []
    for m, run in ((plain, lambda m, xi: m(xi)), (fast, recompute)):
        xi = x.clone().requires_grad_()
        out = run(m, xi)
        params = [xi, *m.parameters()]
        g = torch.autograd.grad(
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), params
        )
        results.append((out, g, m.state_dict()))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL)
    for (n, a), b in zip(results[0][2].items(), results[1][2].values(), strict=True):
        torch.testing.assert_close(a, b, **TOL, msg=n)  # running statistics updated once


def test_recompute_keeps_only_the_input() -> None:
    m = ReLUConvBN(6, 4, 1, 1, 0, affine=False)
    x = torch.randn(3, 6, 8, 8, requires_grad=True)
    plain, _ = saved_storages(lambda: m(x))
    fast, out = saved_storages(lambda: recompute(m, x))
    weights = {p.untyped_storage().data_ptr() for p in m.parameters()}
    assert set(fast) - weights == {x.untyped_storage().data_ptr()}
    assert sum(plain.values()) > sum(fast.values())
    out.sum().backward()
    assert x.grad is not None and m[1].weight.grad is not None


def test_recompute_double_backward_matches() -> None:
    plain = ReLUConvBN(6, 4, 3, 1, 1, affine=True).double()
    fast = copy.deepcopy(plain)
    x = torch.randn(2, 6, 5, 5, dtype=torch.float64)
    results = []
    for m, run in ((plain, lambda m, xi: m(xi)), (fast, recompute)):
        xi = x.clone().requires_grad_()
        w = list(m.parameters())
        g = torch.autograd.grad(run(m, xi).square().mean(), [xi, *w], create_graph=True)
        results.append(torch.autograd.grad(sum(gi.square().sum() for gi in g), [xi, *w]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_recompute_without_grad_is_the_module() -> None:
    m = ReLUConvBN(6, 4, 1, 1, 0)
    x = torch.randn(2, 6, 4, 4)
    with torch.no_grad():
        out, expected = recompute(m, x), m(x)
    assert out.grad_fn is None
    torch.testing.assert_close(out, expected)


def test_recompute_replays_autocast() -> None:
    plain = ReLUConvBN(6, 4, 3, 1, 1)
    fast = copy.deepcopy(plain)
    x = torch.randn(2, 6, 5, 5)
    grads = []
    for m, run in ((plain, lambda m, xi: m(xi)), (fast, recompute)):
        xi = x.clone().requires_grad_()
        with torch.autocast("cpu", torch.bfloat16):
            out = run(m, xi)
        assert out.dtype == torch.bfloat16
        grads.append(torch.autograd.grad(out.float().sum(), [xi, *m.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_recompute_of_dependent_pieces_matches_their_concatenation() -> None:
    """Several inputs are concatenated; when one piece is computed from another (a cell's node
    states), the gradients, first and second order, still count each path once."""
    plain = ReLUConvBN(6, 4, 1, 1, 0, affine=False).double()
    fast = copy.deepcopy(plain)
    w0 = torch.randn(3, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    results = []
    for m, run in ((plain, lambda m, *xs: m(torch.cat(xs, 1))), (fast, recompute)):
        a = torch.nn.functional.conv2d(x, w0)
        w = [w0, *m.parameters()]
        out = run(m, a, a.sin())
        g = torch.autograd.grad(out.square().mean(), w, create_graph=True)
        results.append((out, g, torch.autograd.grad(sum(gi.square().sum() for gi in g), w)))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    for a, b in zip(results[0][1] + results[0][2], results[1][1] + results[1][2], strict=True):
        torch.testing.assert_close(a, b, **TOL)
