"""CDC and CDP against their defining formulas; every DARTS op runs forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from search_spaces.ops import (
    OPS,
    CentralDifferenceConv2d,
    CentralDifferencePool2d,
    SpatialAttention,
    make_op,
)


def two_conv_cdc(x: torch.Tensor, conv: nn.Conv2d, theta: float) -> torch.Tensor:
    """The official two-convolution CDC: conv(x, w) - theta * conv1x1(x, sum_k w)."""
    w = conv.weight
    out = F.conv2d(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    w_sum = w.sum(dim=(2, 3), keepdim=True)
    return out - theta * F.conv2d(x, w_sum, None, conv.stride, 0, 1, conv.groups)


CDC_CASES = [
    # c_in, c_out, kernel, stride, padding, dilation, groups, bias, size
    (3, 5, 3, 1, 1, 1, 1, False, (9, 9)),
    (4, 6, 3, 2, 1, 1, 1, True, (9, 8)),
    (4, 8, 3, 1, 1, 1, 2, True, (7, 10)),
    (6, 6, 3, 2, 1, 1, 6, False, (11, 11)),
    (3, 4, 5, 2, 2, 1, 1, True, (10, 9)),
    (3, 4, 3, 1, 2, 2, 1, False, (8, 8)),
    (4, 4, 1, 2, 0, 1, 2, True, (7, 7)),
]


@pytest.mark.parametrize("theta", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("case", CDC_CASES)
def test_cdc_equals_two_conv_formula_values_and_grads(case: tuple, theta: float) -> None:
    c_in, c_out, k, stride, pad, dil, groups, bias, size = case
    torch.manual_seed(0)
    cdc = CentralDifferenceConv2d(
        c_in,
        c_out,
        k,
        stride=stride,
        padding=pad,
        dilation=dil,
        groups=groups,
        bias=bias,
        theta=theta,
    ).double()
    x = torch.randn(2, c_in, *size, dtype=torch.float64, requires_grad=True)
    out = cdc(x)
    ref = two_conv_cdc(x, cdc, theta)
    torch.testing.assert_close(out, ref)

    g = torch.randn_like(out)
    params = [cdc.weight, x] + ([cdc.bias] if bias else [])
    got = torch.autograd.grad(out, params, g)
    want = torch.autograd.grad(ref, params, g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_cdc_theta_zero_is_exactly_a_plain_conv() -> None:
    torch.manual_seed(1)
    cdc = CentralDifferenceConv2d(4, 6, 3, stride=2, padding=1, theta=0.0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    conv.load_state_dict(cdc.state_dict())
    x = torch.randn(2, 4, 9, 9)
    assert torch.equal(cdc(x), conv(x))


def test_cdc_one_by_one_scales_weight() -> None:
    cdc = CentralDifferenceConv2d(3, 4, 1, theta=0.25)
    torch.testing.assert_close(cdc.folded_weight(), 0.75 * cdc.weight)


def test_cdc_same_padding_string_and_padding_mode() -> None:
    torch.manual_seed(2)
    cdc = CentralDifferenceConv2d(3, 4, 3, padding="same", theta=0.5).double()
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(cdc(x), two_conv_cdc(x, cdc, 0.5).detach())
    refl = CentralDifferenceConv2d(3, 4, 3, padding=1, padding_mode="reflect", theta=0.5).double()
    plain = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), refl.weight, refl.bias)
    centre = F.conv2d(x, refl.weight.sum(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(refl(x), plain - 0.5 * centre)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3, "padding": 0},
        {"kernel_size": 3, "padding": 2},
        {"kernel_size": 3, "padding": 1, "dilation": 2},
        {"kernel_size": 2, "padding": 0},
        {"kernel_size": 3, "padding": "valid"},
    ],
)
def test_cdc_rejects_misaligned_centre(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="CentralDifferenceConv2d"):
        CentralDifferenceConv2d(3, 4, theta=0.7, **kwargs)


def test_cdc_repr_mentions_theta() -> None:
    assert "theta=0.7" in repr(CentralDifferenceConv2d(3, 4, 3, padding=1))


def cdp_by_loops(x: torch.Tensor, k: int, stride: int, pad: int, gamma: float) -> torch.Tensor:
    """Average over each zero-padded k x k window (pads counted) minus gamma times its centre."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = torch.empty(n, c, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            centre = win[:, :, k // 2, k // 2]
            out[:, :, i, j] = win.mean(dim=(2, 3)) - gamma * centre
    return out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("gamma", [0.3, 0.7, 1.0])
@pytest.mark.parametrize("size", [(7, 7), (8, 6)])
def test_cdp_equals_loop_formula(stride: int, gamma: float, size: tuple[int, int]) -> None:
    torch.manual_seed(3)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    cdp = CentralDifferencePool2d(3, stride, 1, gamma=gamma)
    torch.testing.assert_close(cdp(x), cdp_by_loops(x, 3, stride, 1, gamma))


def test_cdp_other_padding_and_kernel() -> None:
    torch.manual_seed(4)
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    for k, stride, pad in [(3, 2, 0), (5, 2, 2), (5, 1, 1)]:
        cdp = CentralDifferencePool2d(k, stride, pad, gamma=0.6)
        torch.testing.assert_close(cdp(x), cdp_by_loops(x, k, stride, pad, 0.6))


def test_cdp_gamma_zero_is_avg_pool() -> None:
    x = torch.randn(2, 3, 9, 9)
    cdp = CentralDifferencePool2d(3, 2, 1, gamma=0.0)
    assert torch.equal(cdp(x), nn.AvgPool2d(3, 2, 1)(x))


def test_cdp_rejects_even_kernel_and_ceil_mode() -> None:
    with pytest.raises(ValueError, match="odd kernel"):
        CentralDifferencePool2d(2, 2, 0)
    with pytest.raises(ValueError, match="ceil_mode"):
        CentralDifferencePool2d(3, 2, 1, ceil_mode=True)


def test_spatial_attention_shape_and_range() -> None:
    x = torch.randn(2, 5, 8, 8, requires_grad=True)
    att = SpatialAttention(5)
    y = att(x)
    assert y.shape == x.shape
    ratio = (y / x).detach()
    assert torch.all((ratio > 0) & (ratio < 1))
    assert torch.allclose(ratio[:, 0], ratio[:, 3])  # one weight per position, shared by channels
    y.sum().backward()
    assert att.conv.weight.grad is not None


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_forward_backward(name: str, stride: int) -> None:
    torch.manual_seed(5)
    c, h, w = 4, 7, 8
    op = make_op(name, c, stride, affine=True)
    x = torch.randn(2, c, h, w, requires_grad=True)
    y = op(x)
    assert y.shape == (2, c, -(-h // stride), -(-w // stride))
    y.square().sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for p in op.parameters():
        assert p.grad is not None


def test_make_op_parses_theta_and_gamma() -> None:
    op = make_op("cdc_0.25_3x3", 4, 1)
    assert any(isinstance(m, CentralDifferenceConv2d) and m.theta == 0.25 for m in op.modules())
    pool = make_op("cdp_1_3x3", 4, 2)
    assert isinstance(pool, CentralDifferencePool2d) and pool.gamma == 1.0
    assert make_op("cdc_.5_5x5", 4, 2)(torch.randn(1, 4, 9, 9)).shape == (1, 4, 5, 5)
    # gamma = 0 is exactly the avg_pool_3x3 op
    x = torch.randn(1, 4, 9, 9)
    assert torch.equal(make_op("cdp_0_3x3", 4, 2)(x), make_op("avg_pool_3x3", 4, 2)(x))


@pytest.mark.parametrize(
    "name", ["conv_5x5", "cdc_x_3x3", "cdc_0.7_3x5", "cdp_0.7_4x4", "cdc_-1_3x3"]
)
def test_make_op_unknown_lists_valid_names(name: str) -> None:
    with pytest.raises(KeyError, match="sep_conv_3x3.*cdc_<theta>"):
        make_op(name, 4, 1)


def test_cdc_double_backward() -> None:
    """Second-order use (e.g. Hessian-vector products in a search) differentiates the fold too."""
    torch.manual_seed(6)
    cdc = CentralDifferenceConv2d(2, 3, 3, stride=2, padding=1, theta=0.6).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = cdc.weight.detach().clone().requires_grad_(True)

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return functional_call(cdc, {"weight": w, "bias": cdc.bias}, (x,))

    assert torch.autograd.gradgradcheck(run, (x, w))
