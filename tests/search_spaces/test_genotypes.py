"""Genotypes: PC-DARTS derivation on hand-set weights, JSON, sampling, choices, drawing."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from search_spaces.discrete import build_network
from search_spaces.draw import draw_genotype
from search_spaces.genotypes import (
    Genotype,
    GenotypeError,
    collapse_reason,
    derive_genotype,
    genotype_choices,
    genotype_from_choices,
    sample_genotype,
    validate_genotype,
)
from search_spaces.ops import CentralDifferencePool2d
from search_spaces.spaces import SPACES, make_space
from search_spaces.supernet import build_supernet


def tiny(name: str, **kw: object):
    base = {"C": 8} if name.startswith("fas") else {"C": 8, "layers": 3}
    return make_space(name, **{**base, **kw})


def zero_arch(space):
    a = {t: torch.zeros(space.n_edges, len(space.op_names)) for t in space.cell_types}
    b = {} if space.chain else {t: torch.zeros(space.n_edges) for t in space.cell_types}
    return a, b


def test_derivation_ranks_edges_by_op_weight_times_edge_norm() -> None:
    space = make_space("autofas")
    ops = space.op_names
    a, b = zero_arch(space)
    # node 1 has edges 2, 3, 4 (inputs 0, 1, 2)
    a["normal"][2, ops.index("sep_conv_3x3")] = 3.0
    a["normal"][3, ops.index("max_pool_3x3")] = 2.0
    a["normal"][4, ops.index("skip_connect")] = 1.0
    g = derive_genotype(space, a, b)
    assert g.cells["normal"][1] == [("sep_conv_3x3", 0), ("max_pool_3x3", 1)]
    # edge normalisation: beta favours the weak edge 4 over edge 3 and changes the choice
    b["normal"][3], b["normal"][4] = -3.0, 3.0
    g = derive_genotype(space, a, b)
    assert g.cells["normal"][1] == [("sep_conv_3x3", 0), ("skip_connect", 2)]


def test_none_is_never_picked_nor_ranks_an_edge() -> None:
    space = make_space("autofas")
    ops = space.op_names
    a, b = zero_arch(space)
    a["normal"][0, ops.index("none")] = 10.0  # node 0: both edges kept anyway
    a["normal"][0, ops.index("sep_conv_5x5")] = 1.0
    # node 2 (edges 5..8, inputs 0..3): edge 5 dominated by none must lose
    a["normal"][5, ops.index("none")] = 10.0
    a["normal"][6, ops.index("avg_pool_3x3")] = 0.5
    a["normal"][7, ops.index("sep_conv_3x3")] = 0.5
    g = derive_genotype(space, a, b)
    assert g.cells["normal"][0][0] == ("sep_conv_5x5", 0)
    assert [i for _, i in g.cells["normal"][2]] == [1, 2]
    assert "none" not in g.ops()


def test_chain_derivation_takes_the_best_op_per_edge() -> None:
    space = make_space("fas_cd")
    ops = space.op_names
    a, _ = zero_arch(space)
    picks = ["cdc_0.7_2_1.6", "skip_connect", "cdc_0.7_3x3", "cdc_0.7_2_2.0"]
    for e, op in enumerate(picks):
        a["mid"][e, ops.index("none")] = 5.0
        a["mid"][e, ops.index(op)] = 1.0
    g = derive_genotype(space, a)
    assert g.cells["mid"] == [[(op, e)] for e, op in enumerate(picks)]


@pytest.mark.parametrize("name", SPACES.names())
def test_json_round_trip_and_forward(name: str) -> None:
    space = tiny(name)
    g = build_supernet(space).genotype()
    again = Genotype.from_json(g.to_json())
    assert again == g
    assert again.options == ({"C": 8} if space.chain else {"C": 8, "layers": 3})
    net = build_network(again)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 2, 2)


def test_genotype_records_network_level_variants() -> None:
    space = tiny("fas_cd", pooling="max", attention=False)
    g = sample_genotype(space, 0)
    assert g.options == {"C": 8, "attention": False, "pooling": "max"}
    assert g.make_space() == space
    net = build_network(Genotype.from_json(g.to_json()))
    assert not any(isinstance(m, CentralDifferencePool2d) for m in net.modules())
    assert build_network(g, pooling="cdp").pools[0].gamma == 0.7


def test_unknown_op_error_names_the_op_and_the_valid_ones() -> None:
    g = sample_genotype(tiny("autofas"), 0)
    g.cells["normal"][1][0] = ("conv_9x9", 0)
    with pytest.raises(GenotypeError, match=r"conv_9x9.*valid ops: .*sep_conv_3x3"):
        build_network(g)


@pytest.mark.parametrize(
    "cell, node, edge, message",
    [
        ("normal", 0, ("sep_conv_3x3", 2), "valid inputs"),
        ("normal", 1, ("none", 0), "unknown op 'none'"),
    ],
)
def test_invalid_genotypes_are_refused(cell, node, edge, message) -> None:
    g = sample_genotype(tiny("autofas"), 0)
    g.cells[cell][node][0] = edge
    with pytest.raises(GenotypeError, match=message):
        validate_genotype(g)
    with pytest.raises(GenotypeError, match="malformed"):
        Genotype.from_dict({"space": "autofas"})


@pytest.mark.parametrize("name", SPACES.names())
def test_sampling_is_seeded_and_covers_every_op(name: str) -> None:
    space = make_space(name)
    assert sample_genotype(space, 7) == sample_genotype(space, 7)
    samples = [sample_genotype(space, s) for s in range(150)]
    assert len({s.to_json() for s in samples}) == 150
    seen = Counter(op for s in samples for op in s.ops())
    assert set(seen) == set(space.op_names) - {"none"}
    if not space.chain:
        last = Counter(tuple(i for _, i in s.cells["normal"][3]) for s in samples)
        assert len(last) == 10  # every pair of the 5 inputs of the last node


@pytest.mark.parametrize("name", SPACES.names())
def test_choices_round_trip(name: str) -> None:
    space = make_space(name)
    choices = genotype_choices(space)
    assert all(isinstance(v, (str, int)) for opts in choices.values() for v in opts)
    picked = {k: opts[-1] for k, opts in choices.items()}
    g = genotype_from_choices(space, picked)
    assert validate_genotype(g) == space
    with pytest.raises(GenotypeError, match="missing"):
        genotype_from_choices(space, {})


def test_optuna_define_by_run() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = make_space("baseline_cd")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    choices = {k: trial.suggest_categorical(k, v) for k, v in genotype_choices(space).items()}
    assert validate_genotype(genotype_from_choices(space, choices)) == space


def test_collapse_reason() -> None:
    space = make_space("autofas")
    g = sample_genotype(space, 0)
    g.cells["normal"] = [[("skip_connect", 0), ("skip_connect", 1)] for _ in range(4)]
    assert "normal: 8 skip_connect" in collapse_reason(g)
    fas = sample_genotype(make_space("fas_van"), 0)
    fas.cells["low"] = [[("conv_3x3", j)] for j in range(4)]
    fas.cells["mid"] = [[("skip_connect", j)] for j in range(3)] + [[("conv_3x3", 3)]]
    fas.cells["high"] = [[("conv_3x3", j)] for j in range(4)]
    assert collapse_reason(fas) == ""  # a shallow chain cell is a legitimate outcome
    fas.cells["mid"] = [[("skip_connect", j)] for j in range(4)]
    assert "mid: 100%" in collapse_reason(fas)


@pytest.mark.parametrize("name", ["autofas", "fas_cd"])
def test_draw_returns_png(name: str) -> None:
    png = draw_genotype(sample_genotype(make_space(name), 0))
    assert png.startswith(b"\x89PNG") and len(png) > 5000
