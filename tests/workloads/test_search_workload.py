"""nas_search / random_sample / train_eval(network="genotype") on a tiny real synthetic tree."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pandas as pd
import pytest

from search_spaces.genotypes import Genotype, GenotypeError, genotype_choices, validate_genotype
from search_spaces.spaces import make_space
from synth import SynthSize, generate
from workloads import batches
from workloads import search as search_mod
from workloads import train_eval as te
from workloads.base import SCORE_COLUMNS, WORKLOADS, DataHandle, WorkloadDef
from workloads.params import parse
from workloads.search import (
    data_config,
    nas_search,
    random_sample,
    sampled_genotype,
    search_space_choices,
)
from workloads.search_params import (
    RandomSampleParams,
    SearchParams,
    retrain_params,
    space_from_params,
)
from workloads.train_params import TrainEvalParams

#: One user per split, two phones, all three sessions (P1 tests on session 3), 32 px frames.
TINY = SynthSize(1, 1, 1, phones=(1, 2), n_frames=4, frame_size=32)
SEARCH_EPOCHS, RETRAIN_EPOCHS = 2, 1
BASE = {
    "space": "autofas",
    "C": 4,
    "layers": 3,
    "input_size": 32,
    "k": 4,
    "search_epochs": SEARCH_EPOCHS,
    "warmup_epochs": 1,
    "search_batch_size": 4,
    "w_lr": 1e-3,
    "a_lr": 3e-3,
    "optimizer": "adam",
    "w_schedule": "constant",
    "epochs": RETRAIN_EPOCHS,
    "lr": 1e-3,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "width": 2.0,
    "frames_per_video": 1,
    "representation": "static",
    "loss": "binary",
    "seed": 0,
}


def searched(params: dict) -> SearchParams:
    return parse(SearchParams, params)


def sampled(params: dict) -> RandomSampleParams:
    return parse(RandomSampleParams, params)


def trained(params: dict, genotype: Genotype, **extra) -> TrainEvalParams:
    """A ``train_eval`` trial of ``genotype`` with the train_eval settings among ``params``."""
    keys = {f.name for f in dataclasses.fields(TrainEvalParams)}
    own = {k: v for k, v in params.items() if k in keys}
    return parse(TrainEvalParams, {**own, "network": "genotype", "genotype": genotype.to_json()})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> DataHandle:
    root = tmp_path_factory.mktemp("tiny_oulu")
    generate(root, TINY, workers=1)
    return DataHandle(root, "oulu_npu_p1", "p1", root / "cache")


def _ids(df) -> set[str]:
    return set(df["video_id"].astype(str))


def _check_reports(reports: list[dict], n_search: int) -> None:
    epochs = [m["epoch"] for m in reports]
    assert epochs == [float(e) for e in range(1, n_search + RETRAIN_EPOCHS + 1)]
    for m in reports:
        assert all(type(v) is float for v in m.values()), m
    for m in reports[:n_search]:
        assert set(m) - {"epoch"} and all(k.startswith("search_") for k in m if k != "epoch")
    assert "train_loss" in reports[-1] and "dev_eer" in reports[-1]


def _check_result(result, space_name: str = "autofas") -> Genotype:
    for name in ("test_apcer", "test_bpcer", "test_acer", "test_hter", "test_eer", "test_auc"):
        assert 0.0 <= result.metrics[name] <= 1.0
    assert result.metrics["n_params"] > 0 and result.metrics["flops"] > 0
    assert list(result.scores.columns) == SCORE_COLUMNS
    assert result.scores["score"].between(0, 1).all()
    text = result.artifacts["genotype.json"].decode()
    genotype = Genotype.from_json(text)
    assert json.loads(genotype.to_json()) == json.loads(text)
    space = validate_genotype(genotype)
    assert space.name == space_name
    assert set(genotype.ops()) <= set(space.op_names) - {"none"}
    assert result.artifacts["genotype.png"].startswith(b"\x89PNG")
    assert Genotype.from_json(result.info["genotype"]) == genotype
    return genotype


@pytest.mark.parametrize(
    ("split", "extra", "domains"),
    [("random", {}, []), ("meta_domain", {"domain_key": "device"}, ["1", "2"])],
)
def test_nas_search_pipeline(data, monkeypatch, split, extra, domains) -> None:
    seen: set[str] = set()

    class Recording(batches.FrameBatches):
        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            seen.update(self.video_ids)

    monkeypatch.setattr(batches, "FrameBatches", Recording)
    reports: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 2-epoch search may look collapsed: not the point here
        result = nas_search(searched({**BASE, "split": split, **extra}), data, reports.append)

    _check_reports(reports, SEARCH_EPOCHS)
    genotype = _check_result(result)
    fold = te.load_fold(data)
    videos = pd.concat([fold.dev, fold.test]).set_index("video_id")
    scores = result.scores.set_index("video_id")
    for col in ("label", "pai", "instrument", "subject"):  # the manifest's, per video
        assert scores[col].tolist() == videos.loc[scores.index, col].tolist(), col
    assert seen and seen <= _ids(fold.train)
    assert not seen & (_ids(fold.dev) | _ids(fold.test))
    assert result.info["search_domains"] == domains
    trajectory = result.info["genotype_trajectory"]
    assert len(trajectory) == SEARCH_EPOCHS and Genotype.from_json(trajectory[-1]) == genotype
    arch = json.loads(result.artifacts["arch_trajectory.json"])
    assert [e["epoch"] for e in arch["epochs"]] == list(range(1, SEARCH_EPOCHS + 1))
    assert len(arch["epochs"][0]["normal"]["alpha"][0]) == len(arch["ops"])


def test_search_and_retrain_share_one_cache() -> None:
    genotype = sampled_genotype(sampled({**BASE, "sample_seed": 0}))[0]
    retrain = trained(BASE, genotype)
    assert data_config(searched(BASE)).key() == te.data_config(retrain).key()
    ce = {**BASE, "head": "ce"}
    ce_genotype = sampled_genotype(sampled({**ce, "sample_seed": 0}))[0]
    ce_retrain = trained(ce, ce_genotype)
    assert data_config(searched(ce)).key() == te.data_config(ce_retrain).key()


def _choices_of(genotype: Genotype) -> dict[str, str]:
    """The ``arch.*`` params the orchestrator's sampler would produce for ``genotype``."""
    space = genotype.make_space()
    spec = genotype_choices(space)
    out = {}
    for t, nodes in genotype.cells.items():
        for j, node in enumerate(nodes):
            if f"{t}_n{j}_inputs" in spec:
                out[f"arch.{t}_n{j}_inputs"] = "-".join(str(i) for _, i in node)
            for k, (op, _) in enumerate(node):
                out[f"arch.{t}_n{j}_op{k}"] = op
    return out


def test_random_sample_seed_and_choices_agree(data) -> None:
    by_seed, source = sampled_genotype(sampled({**BASE, "sample_seed": 7}))
    assert source == "sample_seed"
    assert by_seed == sampled_genotype(sampled({**BASE, "sample_seed": 7}))[0]
    assert by_seed != sampled_genotype(sampled({**BASE, "sample_seed": 8}))[0]
    choices = _choices_of(by_seed)
    assert {k.removeprefix("arch.") for k in choices} == set(search_space_choices(sampled(BASE)))
    runs = []
    for extra in ({"sample_seed": 7}, {**choices, "template_key": "x"}):
        reports: list[dict] = []
        runs.append(random_sample(sampled({**BASE, **extra}), data, reports.append))
        assert [m["epoch"] for m in reports] == [1.0]  # no search: the retrain starts at 1
        assert all(type(v) is float for m in reports for v in m.values())
    assert [r.info["genotype_source"] for r in runs] == ["sample_seed", "choices"]
    assert runs[0].artifacts["genotype.json"] == runs[1].artifacts["genotype.json"]
    assert _check_result(runs[1]) == by_seed
    assert runs[0].metrics == pytest.approx(runs[1].metrics)  # same genotype, same budget


def test_random_sample_rejects_bad_choices() -> None:
    with pytest.raises(ValueError, match="sample_seed"):
        sampled_genotype(sampled(BASE))
    genotype = sampled_genotype(sampled({**BASE, "sample_seed": 0}))[0]
    bad = {**_choices_of(genotype), "arch.bogus": "x"}
    with pytest.raises(GenotypeError, match="bogus"):
        sampled_genotype(sampled({**BASE, **bad}))


def test_space_params_flat_keys_win_and_coerce() -> None:
    params = {
        "space": "fas_cd",
        "space_overrides": json.dumps({"C": 8, "attention": True, "pooling": "max"}),
        "attention": "false",
        "C": "4",
    }
    space = space_from_params(searched(params))
    assert (space.C, space.attention, space.pooling) == (4, False, "max")
    assert search_space_choices(sampled(params)) == genotype_choices(space)
    defaults = {"space": "fas_cd", "C": None, "layers": None, "input_size": None}
    assert space_from_params(searched(defaults)) == make_space("fas_cd")
    assert data_config(searched({**defaults, "frames_per_video": 1})).input_size == 256


def test_train_eval_retrains_a_ce_genotype(data) -> None:
    space = make_space("fas_cd", C=4, head="ce")
    ce = {"space": "fas_cd", "C": 4, "head": "ce", "sample_seed": 1}
    genotype = sampled_genotype(sampled(ce))[0]
    params = trained({**BASE, "width": 2.0}, genotype)
    model = te.build_model(params)
    assert model(te.torch.zeros(2, 3, 32, 32)).shape == (2,)  # scalar logits
    narrow = te.model_cost(te.build_model(dataclasses.replace(params, width=1.0)), 32)["n_params"]
    assert te.model_cost(model, 32)["n_params"] > narrow
    reports: list[dict] = []
    result = te.train_eval(params, data, reports.append)
    assert [m["epoch"] for m in reports] == [1]
    assert _check_result(result, "fas_cd") == genotype
    assert genotype.make_space() == space


@pytest.mark.filterwarnings("ignore::workloads.nas.config.SearchCollapseWarning")
def test_fas_space_searches_and_retrains_on_depth_labels_with_a_depth_head(
    data, monkeypatch
) -> None:
    """Without a ``loss`` the FAS space takes its paper's: depth labels, MSE + CDL, a ReLU head."""
    from workloads.nas import objective

    params = searched({**BASE, "space": "fas_van", "loss": None, "width": None})
    assert data_config(params).label == "depth"
    seen: dict[str, list] = {"kinds": [], "supernet": []}
    real_build, real_search_loss, real_train_loss = (
        search_mod.build_supernet,
        objective.map_loss,
        te.map_loss,
    )

    def build(space, **kw):
        net = real_build(space, **kw)
        seen["supernet"].append(isinstance(net.head[-2], te.nn.ReLU))
        return net

    def recording(real):
        def loss(kind, pred, target):
            seen["kinds"].append(kind)
            return real(kind, pred, target)

        return loss

    monkeypatch.setattr(search_mod, "build_supernet", build)
    monkeypatch.setattr(objective, "map_loss", recording(real_search_loss))
    monkeypatch.setattr(te, "map_loss", recording(real_train_loss))
    result = nas_search(params, data, lambda m: None)
    assert seen["supernet"] == [True] and set(seen["kinds"]) == {"depth"}
    assert result.info["pipeline"] == data_config(params).key()
    genotype = Genotype.from_json(result.info["genotype"])
    model = te.build_model(retrain_params(genotype, params))
    assert isinstance(model.head[-2], te.nn.ReLU)
    assert (result.scores["score"] >= 0).all()  # a depth map is non-negative


def test_domain_split_needs_two_domains(data) -> None:
    nas = WORKLOADS.get("nas_search")
    with pytest.raises(ValueError, match="2 domains"):
        nas.run_trial({**BASE, "split": "domain"}, data, lambda m: None)  # one dataset only
    with pytest.raises(ValueError, match="split='bogus': expected one of random, domain"):
        nas.run_trial({**BASE, "split": "bogus"}, data, lambda m: None)


def test_the_workloads_register_on_first_lookup() -> None:
    assert set(WORKLOADS.names()) >= {"nas_search", "random_sample", "train_eval"}
    for name in ("nas_search", "random_sample", "train_eval"):
        workload = WORKLOADS.get(name)
        assert isinstance(workload, WorkloadDef) and callable(workload.data_config)
