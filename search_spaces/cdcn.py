"""The CDCN family as ``NETWORKS`` entries: DepthNet, CDCN, CDCN++ and CDCN with CDP, each one
``DepthMapNet`` configuration (Yu et al., CVPR 2020; NAS-FAS for CDP)."""

from __future__ import annotations

from torch import nn

from search_spaces.nets import NETWORKS, DepthMapNet
from search_spaces.ops import CentralDifferencePool2d

# channel lists of the three blocks (each block starts from the previous block's output width)
CDCN_BLOCKS: tuple[tuple[int, ...], ...] = ((128, 196, 128),) * 3
CDCN_PP_BLOCKS: tuple[tuple[int, ...], ...] = (
    (128, 204, 128),
    (153, 128, 179, 128),
    (128, 153, 128),
)


@NETWORKS.register("cdcn")
def cdcn(
    theta: float = 0.7,
    gamma: float = 0.7,
    width: float = 1.0,
    input_size: int = 256,
    **kw: object,
) -> nn.Module:
    """CDCN (Yu et al., CVPR 2020): DepthNet with CDC everywhere; ~2.245M params at width 1."""
    return DepthMapNet(
        **{
            "blocks": CDCN_BLOCKS,
            "head": (128, 64),
            "theta": theta,
            "width": width,
            "input_size": input_size,
            **kw,
        }
    )


@NETWORKS.register("depthnet")
def depthnet(
    theta: float = 0.7,
    gamma: float = 0.7,
    width: float = 1.0,
    input_size: int = 256,
    **kw: object,
) -> nn.Module:
    """DepthNet: CDCN with plain convolutions (theta forced to 0; the argument is ignored)."""
    return cdcn(theta=0.0, gamma=gamma, width=width, input_size=input_size, **kw)


@NETWORKS.register("cdcn_pp")
def cdcn_pp(
    theta: float = 0.7,
    gamma: float = 0.7,
    width: float = 1.0,
    input_size: int = 256,
    **kw: object,
) -> nn.Module:
    """CDCN++: the NAS-found backbone with spatial attention (kernels 7/5/3), head 384->128->1."""
    return DepthMapNet(
        **{
            "blocks": CDCN_PP_BLOCKS,
            "head": (128,),
            "theta": theta,
            "attention_kernels": (7, 5, 3),
            "width": width,
            "input_size": input_size,
            **kw,
        }
    )


@NETWORKS.register("cdn_cdp")
def cdn_cdp(
    theta: float = 0.7,
    gamma: float = 0.7,
    width: float = 1.0,
    input_size: int = 256,
    **kw: object,
) -> nn.Module:
    """CDCN with central-difference pooling CDP(3, 2, 1, gamma) in place of every max pooling."""
    return cdcn(
        theta=theta,
        width=width,
        input_size=input_size,
        **{"pool": lambda: CentralDifferencePool2d(3, 2, 1, gamma=gamma), **kw},
    )
