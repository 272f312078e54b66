"""Search spaces: presets, sizes, op lists, every supernet and sampled net forward/backward."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from search_spaces.discrete import build_network, count_flops, count_parameters
from search_spaces.genotypes import genotype_choices, sample_genotype
from search_spaces.ops import CentralDifferencePool2d, SpatialAttention
from search_spaces.spaces import SPACES, build_op, make_space
from search_spaces.supernet import MixedOp, build_supernet, channel_shuffle

TINY = 16  # input side for the fast tests (map 2x2)


def tiny(name: str, **kw: object) -> object:
    """A space small enough for CPU tests: C=8, three cells for the two-input kinds."""
    base = {"C": 8} if name.startswith("fas") else {"C": 8, "layers": 3}
    return make_space(name, **{**base, **kw})


ALL_OPS = sorted({op for n in SPACES.names() for op in make_space(n).op_names})


def test_registry_has_the_five_presets() -> None:
    assert SPACES.names() == ["autofas", "baseline_cd", "baseline_van", "fas_cd", "fas_van"]
    with pytest.raises(KeyError, match="autofas"):
        make_space("nope")
    with pytest.raises(TypeError, match="unknown search-space field"):
        make_space("autofas", colour="red")


def test_autofas_size_is_the_papers_count() -> None:
    space = make_space("autofas")
    assert space.n_edges == 2 + 3 + 4 + 5 == 14
    assert len(space.op_names) == 6
    assert space.size() == 2 * 6**14
    assert space.size("supernet") == 6**28
    per_cell = 1 * 3 * 6 * 10 * 5**8  # input pairs per node x non-none op per kept edge
    assert space.size("genotypes") == per_cell**2
    with pytest.raises(ValueError):
        space.size("bogus")


@pytest.mark.parametrize("name", SPACES.names())
def test_genotype_count_matches_the_choices(name: str) -> None:
    space = make_space(name)
    n = math.prod(len(v) for v in genotype_choices(space).values())
    assert n == space.size("genotypes")
    assert space.size() == len(space.cell_types) * len(space.op_names) ** space.n_edges


def test_op_spaces_are_parameters() -> None:
    van, cd = make_space("baseline_van").op_names, make_space("baseline_cd").op_names
    diff = {(a, b) for a, b in zip(van, cd, strict=True) if a != b}
    assert diff == {("avg_pool_3x3", "cdp_0.7_3x3"), ("dil_conv_3x3", "cdc_0.7_3x3")}
    fas = make_space("fas_van").op_names
    assert fas == ("none", "skip_connect", "conv_3x3") + tuple(
        f"conv_2_{r}" for r in ("1.2", "1.4", "1.6", "2.0")
    )
    custom = make_space("fas_cd", ratios=(1.5,), theta=0.5).op_names
    assert custom == ("none", "skip_connect", "cdc_0.5_3x3", "cdc_0.5_2_1.5")
    assert make_space("baseline_van", op_space="cd").op_names == cd
    with pytest.raises(ValueError, match="fas space has exactly 3"):
        make_space("fas_cd", layers=4)


def test_reduction_positions_and_map_size() -> None:
    assert make_space("autofas").reduction_cells() == (2, 5)
    assert make_space("baseline_cd").reduction_cells() == (3, 6)
    assert make_space("autofas").map_size() == 14
    assert make_space("baseline_cd").map_size() == 32


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", ALL_OPS)
def test_every_op_keeps_channels_and_divides_size(name: str, stride: int) -> None:
    op = build_op(name, 8, stride, affine=False)
    x = torch.randn(2, 8, 7, 7, requires_grad=True)
    y = op(x)
    assert y.shape == (2, 8, 4 if stride == 2 else 7, 4 if stride == 2 else 7)
    y.sum().backward()


@pytest.mark.parametrize("name", SPACES.names())
def test_supernet_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    space = tiny(name)
    net = build_supernet(space, k=4)
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    assert len(arch) + len(weights) == len(list(net.parameters()))
    assert len(arch) == len(space.cell_types) * (1 if space.chain else 2)
    y = net(torch.randn(2, 3, TINY, TINY))
    assert y.shape == (2, 2, 2)
    y.square().mean().backward()
    for p in arch:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", SPACES.names())
def test_sampled_discrete_net_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    space = tiny(name)
    g = sample_genotype(space, seed=1)
    net = build_network(g, width=1.0)
    y = net(torch.randn(2, 3, TINY, TINY))
    assert y.shape == (2, 2, 2)
    y.sum().backward()
    wide = build_network(g, width=2.0)
    assert count_parameters(wide) > 2.5 * count_parameters(net)
    assert count_flops(wide, TINY) > 2.5 * count_flops(net, TINY) > 0
    # by default a genotype retrains at its space's width: NAS-FAS doubles, Auto-FAS does not
    default = build_network(g)
    assert space.retrain_width == (1.0 if name == "autofas" else 2.0)
    assert count_parameters(default) == count_parameters(wide if name != "autofas" else net)


@pytest.mark.parametrize("name", SPACES.names())
@pytest.mark.parametrize("kind", ["discrete", "supernet"])
def test_depth_head_is_the_logit_head_followed_by_a_relu(name: str, kind: str) -> None:
    """Depth regression (MSE + CDL) ends with a ReLU as CDCN's head; logit maps (BCE) do not."""
    space = tiny(name)
    g = sample_genotype(space, seed=2)

    def make(depth: bool) -> nn.Module:
        torch.manual_seed(0)
        if kind == "discrete":
            return build_network(g, width=1.0, depth_head=depth)
        return build_supernet(space, depth_head=depth)

    logits, depth = make(False), make(True)
    depth.load_state_dict(logits.state_dict())  # a ReLU has no weights: same parameters
    assert isinstance(depth.head[-2], nn.ReLU) and not isinstance(logits.head[-2], nn.ReLU)
    logits.eval(), depth.eval()
    x = torch.randn(2, 3, TINY, TINY)
    with torch.no_grad():
        assert torch.equal(depth(x), torch.relu(logits(x)))


def test_autofas_genotypes_retrain_near_the_papers_size() -> None:
    """Auto-FAS: searched net 0.27M params, retrained at the search width (no doubling)."""
    space = make_space("autofas")
    sizes = [count_parameters(build_network(sample_genotype(space, s))) for s in range(8)]
    assert 200_000 <= sorted(sizes)[len(sizes) // 2] <= 350_000, sizes


@pytest.mark.parametrize("name", ["autofas", "baseline_cd", "fas_cd"])
def test_ce_head_gives_one_score_per_image(name: str) -> None:
    space = tiny(name, head="ce")
    x = torch.randn(3, 3, TINY, TINY)
    assert build_supernet(space)(x).shape == (3,)
    assert build_network(sample_genotype(space, 0))(x).shape == (3,)


def test_autofas_maps_108_to_14() -> None:
    torch.manual_seed(0)
    space = tiny("autofas")
    x = torch.randn(1, 3, 108, 108)
    with torch.no_grad():
        assert build_supernet(space, k=4)(x).shape == (1, 14, 14)
        assert build_network(sample_genotype(space, 0))(x).shape == (1, 14, 14)


def test_fas_space_pooling_and_attention_are_flags() -> None:
    cdp_att = build_supernet(tiny("fas_cd"))
    assert sum(isinstance(m, CentralDifferencePool2d) for m in cdp_att.pools) == 3
    assert sum(isinstance(m, SpatialAttention) for m in cdp_att.modules()) == 3
    max_plain = build_supernet(tiny("fas_cd", pooling="max", attention=False))
    assert all(isinstance(m, nn.MaxPool2d) for m in max_plain.pools)
    assert not any(isinstance(m, SpatialAttention) for m in max_plain.modules())


@pytest.mark.parametrize("stride", [1, 2])
def test_k1_is_the_darts_mixed_op(stride: int) -> None:
    torch.manual_seed(0)
    ops = make_space("baseline_cd").op_names
    mixed = MixedOp(ops, 8, stride, k=1).eval()
    assert mixed.bypass is None
    x = torch.randn(2, 8, 6, 6)
    w = torch.softmax(torch.randn(len(ops)), dim=0)
    expected = sum(wi * op(x) for wi, op in zip(w, mixed.ops, strict=True))
    torch.testing.assert_close(mixed(x, w), expected)


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_channels_bypass_the_rest(stride: int) -> None:
    torch.manual_seed(0)
    ops = make_space("autofas").op_names
    k, c = 4, 8
    mixed = MixedOp(ops, c, stride, k=k).eval()
    x = torch.randn(2, c, 6, 6)
    w = torch.softmax(torch.randn(len(ops)), dim=0)
    unshuffled = channel_shuffle(mixed(x, w), c // k)  # the inverse of a k-group shuffle
    rest = x[:, c // k :]
    if stride == 2:
        rest = nn.functional.max_pool2d(rest, 3, 2, 1)
    torch.testing.assert_close(unshuffled[:, c // k :], rest)
    part = sum(wi * op(x[:, : c // k]) for wi, op in zip(w, mixed.ops, strict=True))
    torch.testing.assert_close(unshuffled[:, : c // k], part)


def test_k_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="divisible"):
        build_supernet(tiny("autofas", C=6), k=4)
