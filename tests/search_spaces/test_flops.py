"""FLOP counts and output shapes from the shape-only (meta device) pass equal those of a real
forward pass under the same counter, on every network the project builds."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from search_spaces.discrete import build_network, count_flops
from search_spaces.genotypes import sample_genotype
from search_spaces.nets import NETWORKS, shape_pass
from search_spaces.spaces import SPACES, make_space


def real_pass(model: nn.Module, size: int, batch: int = 1) -> tuple[int, torch.Size]:
    """The former count: FlopCounterMode over a real eval-mode forward on zeros."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(batch, 3, size, size))
    model.train(was_training)
    return int(counter.get_total_flops()), out.shape


def check(model: nn.Module, size: int, batch: int = 1) -> None:
    flops, shape = real_pass(model, size, batch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert count_flops(model, size, batch) == flops > 0
    assert shape_pass(model, size, batch).shape == shape
    assert model.training  # the mode and every tensor are left as they were
    after = model.state_dict()
    assert all(v.device.type == "cpu" and torch.equal(v, after[k]) for k, v in before.items())


@pytest.mark.parametrize("name", NETWORKS.names())
@pytest.mark.parametrize(
    ("size", "kw"),
    [
        (32, {"width": 0.125}),
        (48, {"width": 0.25, "theta": 0.0, "depth_head": False}),
        (64, {"theta": 0.7, "gamma": 0.3}),
        (256, {"width": 0.125, "theta": 1.0}),
    ],
)
def test_hand_designed_nets(name: str, size: int, kw: dict) -> None:
    check(NETWORKS.get(name)(input_size=size, **kw), size, batch=2 if size == 48 else 1)


@pytest.mark.parametrize("name", SPACES.names())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_genotype_nets(name: str, seed: int) -> None:
    base = {"C": 8} if name.startswith("fas") else {"C": 8, "layers": 5}
    genotype = sample_genotype(make_space(name, **base), seed=seed)
    for size, kw in ((32, {}), (36, {"depth_head": True}), (32, {"head": "ce", "width": 1.0})):
        check(build_network(genotype, input_size=size, **kw), size)
