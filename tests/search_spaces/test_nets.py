"""Every registered network trains a step at tiny size; CDCN has the paper's size and map shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search_spaces.nets import NETWORKS, DepthMapNet, count_parameters
from search_spaces.ops import CentralDifferenceConv2d, CentralDifferencePool2d, SpatialAttention


@pytest.mark.parametrize("name", NETWORKS.names())
def test_every_network_forward_backward_tiny(name: str) -> None:
    torch.manual_seed(0)
    net = NETWORKS.get(name)(width=0.05, input_size=32)
    x = torch.rand(2, 3, 32, 32)
    y = net(x)
    assert y.shape == (2, 4, 4)
    nn.functional.mse_loss(y, torch.rand_like(y)).backward()
    for p in net.parameters():
        assert p.grad is not None


@pytest.mark.parametrize("name", NETWORKS.names())
def test_depth_head_ends_with_a_relu_and_the_logit_head_does_not(name: str) -> None:
    """The official CDCN nets end their depth head with a ReLU; BCE logit maps must not."""
    torch.manual_seed(0)
    depth = NETWORKS.get(name)(width=0.05, input_size=32)
    logits = NETWORKS.get(name)(width=0.05, input_size=32, depth_head=False)
    assert isinstance(depth.head[-1], nn.ReLU)
    assert isinstance(logits.head[-1], CentralDifferenceConv2d)
    logits.load_state_dict(depth.state_dict())
    depth.eval(), logits.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(depth(x), torch.relu(logits(x)))


def test_registry_names_and_miss() -> None:
    assert {"depthnet", "cdcn", "cdcn_pp", "cdn_cdp"} <= set(NETWORKS.names())
    with pytest.raises(KeyError, match="cdcn_pp"):
        NETWORKS.get("cdcnpp")


def test_cdcn_paper_size_and_map() -> None:
    net = NETWORKS.get("cdcn")()
    assert 2_100_000 <= count_parameters(net) <= 2_300_000
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 256, 256)).shape == (1, 32, 32)


@pytest.mark.parametrize("size", [64, 96])
def test_map_is_input_over_eight(size: int) -> None:
    net = NETWORKS.get("cdcn_pp")(width=0.05, input_size=size).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, size, size)).shape == (1, size // 8, size // 8)


def test_variants_are_parameters() -> None:
    depth = NETWORKS.get("depthnet")(width=0.1)
    cdcn = NETWORKS.get("cdcn")(theta=0.5, width=0.1)
    thetas = {m.theta for m in depth.modules() if isinstance(m, CentralDifferenceConv2d)}
    assert thetas == {0.0}
    assert {m.theta for m in cdcn.modules() if isinstance(m, CentralDifferenceConv2d)} == {0.5}
    assert count_parameters(depth) == count_parameters(cdcn)

    cdp = NETWORKS.get("cdn_cdp")(gamma=0.3, width=0.1)
    pools = [m for m in cdp.modules() if isinstance(m, CentralDifferencePool2d)]
    assert len(pools) == 3 and all(p.gamma == 0.3 for p in pools)
    assert not any(isinstance(m, nn.MaxPool2d) for m in cdp.modules())

    pp = NETWORKS.get("cdcn_pp")()
    kernels = [m.conv.kernel_size[0] for m in pp.modules() if isinstance(m, SpatialAttention)]
    assert kernels == [7, 5, 3]
    assert all(isinstance(m, DepthMapNet) for m in (depth, cdcn, cdp, pp))


def test_depthnet_equals_cdcn_with_theta_zero() -> None:
    torch.manual_seed(1)
    a = NETWORKS.get("depthnet")(width=0.05).eval()
    b = NETWORKS.get("cdcn")(theta=0.0, width=0.05).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_width_rounds_with_floor_of_four() -> None:
    net = NETWORKS.get("cdcn")(width=0.01)
    widths = {m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)}
    assert widths == {4, 1}


def test_unknown_option_and_bad_input_size() -> None:
    with pytest.raises(TypeError):
        NETWORKS.get("cdcn")(colour="blue")
    with pytest.raises(ValueError, match="multiple of 8"):
        NETWORKS.get("cdcn")(input_size=100)
