"""Operators of the FAS search spaces: central-difference conv/pool, spatial attention, DARTS ops.

Central-difference convolution (CDC) and pooling (CDP) come from CDCN (Yu et al., CVPR 2020) and
NAS-FAS (Yu et al., TPAMI 2021). CDC is folded into a single convolution so it costs the same as a
plain one; CDP is an average pool minus a strided view of its input.

The DARTS primitives live in one plain dict, ``OPS`` (name -> ``factory(C, stride, affine)``), and
``make_op`` also understands parametrized names such as ``cdc_0.5_3x3`` or ``cdp_0.3_3x3``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = [
    "CentralDifferenceConv2d",
    "CentralDifferencePool2d",
    "SpatialAttention",
    "Zero",
    "Identity",
    "FactorizedReduce",
    "ReLUConvBN",
    "ReLUCDCBN",
    "SepConv",
    "DilConv",
    "OPS",
    "OP_PATTERNS",
    "make_op",
    "relu_tail",
]


class _CentreFold(torch.autograd.Function):
    """``w' = w - theta * (sum_k w) at the centre tap``, with a hand-written backward.

    The plain autograd version (clone, sum over the taps, in-place slice update) costs several
    passes over the kernel in each direction; this one costs a gemv forward and one fused
    broadcast backward: ``dL/dw[k] = g[k] - theta * g[centre]``. The backward is built from
    differentiable ops and does not depend on ``w``, so double backward works too.
    """

    @staticmethod
    def forward(ctx, w: torch.Tensor, theta: float, centre: tuple[int, int]) -> torch.Tensor:  # type: ignore[override]
        ctx.theta, ctx.centre = theta, centre
        o, i, kh, kw = w.shape
        taps = w.reshape(o * i, kh * kw)
        sums = torch.mv(taps, taps.new_ones(kh * kw)).view(o, i)
        out = w.clone()
        out[:, :, centre[0], centre[1]].sub_(sums, alpha=theta)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        ci, cj = ctx.centre
        return torch.sub(grad, grad[:, :, ci : ci + 1, cj : cj + 1], alpha=ctx.theta), None, None


class CentralDifferenceConv2d(nn.Conv2d):
    """``conv(x, w) - theta * conv1x1(x, sum_k w)`` computed as ONE convolution.

    The subtracted 1x1 term samples ``x`` exactly where the kernel's centre tap does, so it can be
    folded into the kernel: ``w' = w`` with ``theta * sum_k w`` subtracted at the centre tap (for a
    1x1 kernel, ``w' = (1 - theta) * w``). The bias is added once. The transform is differentiable,
    so gradients reach ``w`` as in the two-convolution form, at the cost of a plain convolution.

    The fold is exact only when the centre tap lines up with the 1x1 sample, i.e. for an odd kernel
    with ``padding == dilation * (kernel_size // 2)`` in both dimensions (or ``padding="same"``,
    which torch only allows with stride 1). Any other padding (e.g. ``padding=0`` on a 3x3) would
    make the official two-convolution code either misalign the two terms or fail on mismatched
    shapes, so those configurations raise ``ValueError`` here instead of computing something else.
    ``padding_mode`` does not matter: the centre tap never reads the padded border.
    ``theta = 0`` runs ``nn.Conv2d.forward`` unchanged.
    """

    def __init__(self, *args: object, theta: float = 0.7, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.theta = float(theta)
        kh, kw = self.kernel_size
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(
                f"CentralDifferenceConv2d needs an odd kernel (it has no centre tap otherwise); "
                f"got kernel_size={self.kernel_size}"
            )
        need = tuple(d * (k // 2) for d, k in zip(self.dilation, self.kernel_size, strict=True))
        if self.padding == "same":
            pads: tuple[int, ...] = need
        elif self.padding == "valid":
            pads = (0, 0)
        else:
            pads = tuple(self.padding)
        if pads != need:
            raise ValueError(
                "CentralDifferenceConv2d: the centre-tap fold equals conv(x, w) - theta * "
                "conv1x1(x, sum w) only when padding == dilation * (kernel_size // 2); got "
                f"padding={self.padding}, dilation={self.dilation}, kernel_size={self.kernel_size} "
                f"(use padding={need})"
            )
        self._centre = (kh // 2, kw // 2)

    def folded_weight(self) -> torch.Tensor:
        """The single kernel equivalent to the two-convolution CDC (differentiable in ``weight``)."""
        if self.kernel_size == (1, 1):
            return self.weight * (1.0 - self.theta)
        return _CentreFold.apply(self.weight, self.theta, self._centre)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.theta == 0.0:
            return super().forward(x)
        return self._conv_forward(x, self.folded_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, theta={self.theta}"


class CentralDifferencePool2d(nn.AvgPool2d):
    """``avg_pool(x) - gamma * x(p0)`` with ``p0`` the centre of each pooling window.

    Needs an odd kernel. With ``padding = kernel_size // 2`` and stride ``s`` the centre of output
    ``(i, j)`` is input ``(i*s, j*s)``; in general it is ``(i*s + k//2 - padding, ...)``, so the
    centre term is a strided view of ``x``. ``ceil_mode=True`` can add a window whose centre lies
    outside the input and is refused. ``gamma = 0`` runs ``nn.AvgPool2d.forward`` unchanged.
    """

    def __init__(self, *args: object, gamma: float = 0.7, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gamma = float(gamma)
        k = _pair(self.kernel_size)
        if k[0] % 2 == 0 or k[1] % 2 == 0:
            raise ValueError(
                f"CentralDifferencePool2d needs an odd kernel (no window centre otherwise); "
                f"got kernel_size={self.kernel_size}"
            )
        if self.ceil_mode:
            raise ValueError("CentralDifferencePool2d does not support ceil_mode=True")
        p = _pair(self.padding)
        # torch itself rejects padding > kernel_size / 2, which for odd kernels means <= k // 2
        self._offset = (k[0] // 2 - p[0], k[1] // 2 - p[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(x)
        if self.gamma == 0.0:
            return pooled
        sh, sw = _pair(self.stride)
        oi, oj = self._offset
        h, w = pooled.shape[-2:]
        centre = x[..., oi : oi + (h - 1) * sh + 1 : sh, oj : oj + (w - 1) * sw + 1 : sw]
        return pooled - self.gamma * centre

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma}"


class SpatialAttention(nn.Module):
    """CDCN++ spatial attention: sigmoid(conv([mean_c x, max_c x])) re-weights every position."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"SpatialAttention needs an odd kernel; got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(stats))


# --- DARTS primitives -------------------------------------------------------------------------
# Every op maps (N, C, H, W) to (N, C, ceil(H / stride), ceil(W / stride)).


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (still part of the graph, so grads are zero)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


Identity = nn.Identity


class FactorizedReduce(nn.Module):
    """Halve H and W with two 1x1 stride-2 convs on offset grids, concatenated (skip at stride 2).

    Unlike the original, odd sizes work: the shifted branch is zero-padded back to full size.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        half = c_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, half, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after_relu(self.relu(x))

    def after_relu(self, x: torch.Tensor) -> torch.Tensor:
        """The op on an input that has already been through ``self.relu``."""
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN, the DARTS ordering (pre-activation); with ``theta`` the conv is a
    central-difference conv (padding must then be ``kernel_size // 2``)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        theta: float | None = None,
    ) -> None:
        conv_kw = {"stride": stride, "padding": padding, "bias": False}
        conv = (
            nn.Conv2d(c_in, c_out, kernel_size, **conv_kw)
            if theta is None
            else CentralDifferenceConv2d(c_in, c_out, kernel_size, theta=theta, **conv_kw)
        )
        super().__init__(nn.ReLU(inplace=False), conv, nn.BatchNorm2d(c_out, affine=affine))


def ReLUCDCBN(  # noqa: N802 - named like the module it builds
    c_in: int, c_out: int, kernel_size: int, stride: int, theta: float, affine: bool = True
) -> ReLUConvBN:
    """ReLU -> CDC(theta) -> BN: the central-difference counterpart of ``ReLUConvBN``."""
    return ReLUConvBN(c_in, c_out, kernel_size, stride, kernel_size // 2, affine, theta=theta)


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in,
                c_in,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=c_in,
                bias=False,
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convs (DARTS): only the first one strides."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel_size, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel_size, 1, padding, 1, affine),
        )


OpFactory = Callable[[int, int, bool], nn.Module]


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(c, c, affine)


def _cdc(theta: float, k: int = 3) -> OpFactory:
    return lambda c, stride, affine: ReLUCDCBN(c, c, k, stride, theta, affine)


def _cdp(gamma: float, k: int = 3) -> OpFactory:
    # count_include_pad=False like avg_pool_3x3, so gamma = 0 is exactly that op
    return lambda c, stride, affine: CentralDifferencePool2d(
        k, stride, k // 2, count_include_pad=False, gamma=gamma
    )


#: op name -> factory(C, stride, affine); every op keeps C channels and divides H, W by stride.
OPS: dict[str, OpFactory] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
    "skip_connect": _skip,
    "conv_3x3": lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine),
    "cdc_0.7_3x3": _cdc(0.7),
    "cdp_0.7_3x3": _cdp(0.7),
}

#: parametrized names ``make_op`` understands beyond the ``OPS`` keys (odd k, float theta/gamma).
OP_PATTERNS = ("cdc_<theta>_<k>x<k>", "cdp_<gamma>_<k>x<k>")
_PARAM_OP = re.compile(r"^(cdc|cdp)_(\d+(?:\.\d*)?|\.\d+)_(\d+)x(\d+)$")


def make_op(name: str, c: int, stride: int, affine: bool = True) -> nn.Module:
    """Build op ``name`` for ``c`` channels; parses ``cdc_<theta>_3x3`` / ``cdp_<gamma>_3x3``."""
    if name in OPS:
        return OPS[name](c, stride, affine)
    m = _PARAM_OP.match(name)
    if m and m.group(3) == m.group(4) and int(m.group(3)) % 2 == 1:
        value, k = float(m.group(2)), int(m.group(3))
        factory = _cdc(value, k) if m.group(1) == "cdc" else _cdp(value, k)
        return factory(c, stride, affine)
    valid = ", ".join(sorted(OPS))
    raise KeyError(
        f"unknown op {name!r}; valid names: {valid}; patterns: {', '.join(OP_PATTERNS)} "
        "(theta/gamma a non-negative float, k odd)"
    )


def relu_tail(op: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``f`` with ``f(relu(x)) == op(x)`` when ``op`` starts with an out-of-place ReLU, else None.

    Lets a mixed op compute the ReLU its candidates share once (DARTS ops are ReLU-Conv-BN). An
    in-place ReLU is left alone: it overwrites its input, which the caller may still need.
    """
    if isinstance(op, FactorizedReduce):
        return op.after_relu if not op.relu.inplace else None
    plain = isinstance(op, nn.Sequential) and type(op).forward is nn.Sequential.forward
    if not plain or len(op) == 0:
        return None
    first, rest = op[0], list(op)[1:]
    if isinstance(first, nn.ReLU):
        head = None if first.inplace else (lambda x: x)
    else:
        head = relu_tail(first)
    if head is None:
        return None

    def tail(x: torch.Tensor) -> torch.Tensor:
        x = head(x)
        for m in rest:
            x = m(x)
        return x

    return tail


def conv_bn_relu(c_in: int, c_out: int, theta: float, inplace: bool = True) -> list[nn.Module]:
    """A 3x3 CDC (``theta``), batch norm and ReLU: the CDCN family's and the cells' basic block."""
    return [
        CentralDifferenceConv2d(c_in, c_out, 3, padding=1, bias=False, theta=theta),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=inplace),
    ]
