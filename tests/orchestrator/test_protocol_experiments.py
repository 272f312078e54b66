"""Protocol experiments: registration, genotype references (file, MLflow run), paper tables."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from orchestrator.catalog.fanouts import PROTOCOL_EXPERIMENTS
from orchestrator.experiments import EXPERIMENTS, resolve_experiment
from orchestrator.genotype_ref import resolve_network
from orchestrator.protocol_report import protocol_table
from orchestrator.report import experiment_report, render
from orchestrator.specs import SpecError, apply_overrides
from protocols.layouts import SIWM_TYPES
from protocols.protocols import PROTOCOLS
from search_spaces.genotypes import sample_genotype
from search_spaces.spaces import make_space


@pytest.mark.parametrize("name", sorted(PROTOCOL_EXPERIMENTS))
def test_protocol_experiments_are_registered_with_all_presets(name):
    for preset in ("smoke", "quick", "paper"):
        spec = resolve_experiment(name, preset)
        assert spec.workload == "train_eval"
        assert spec.protocol in PROTOCOLS
        assert spec.report == "protocol"
    assert name in EXPERIMENTS


@pytest.fixture
def genotype_json() -> str:
    return sample_genotype(make_space("fas_cd"), seed=3).to_json()


def test_genotype_file_becomes_the_network(tmp_path, genotype_json):
    path = tmp_path / "g.json"
    path.write_text(genotype_json)
    spec = apply_overrides(resolve_experiment("protocol_siw", "smoke"), {"genotype": str(path)})
    out = resolve_network(spec, "sqlite:///unused.db")
    assert out.params["network"] == "genotype"
    assert json.loads(out.params["genotype"]) == json.loads(genotype_json)
    assert out.params["genotype_source"] == str(path)
    assert "network" not in out.grid
    assert (out.params["width"], out.params["loss"]) == (2.0, "depth")  # NAS-FAS's FAS space


@pytest.mark.parametrize(
    ("space", "width", "loss"),
    [("autofas", 1.0, "binary"), ("baseline_cd", 2.0, "binary"), ("fas_van", 2.0, "depth")],
)
def test_a_genotype_retrains_at_its_papers_width_and_supervision(tmp_path, space, width, loss):
    """Doubling is NAS-FAS's rule (Auto-FAS keeps its search width); depth is the FAS space's."""
    path = tmp_path / "g.json"
    path.write_text(sample_genotype(make_space(space), seed=0).to_json())
    spec = apply_overrides(resolve_experiment("protocol_siw", "paper"), {"genotype": str(path)})
    out = resolve_network(spec, "sqlite:///unused.db")
    assert (out.params["width"], out.params["loss"]) == (width, loss)


def test_genotype_from_an_mlflow_search_run(tmp_path, genotype_json):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("search", artifact_location=str(tmp_path / "art"))
    run = client.create_run(exp)
    (tmp_path / "genotype.json").write_text(genotype_json)
    client.log_artifact(run.info.run_id, str(tmp_path / "genotype.json"))
    spec = resolve_experiment("protocol_ocim_lodo", "smoke")
    spec = apply_overrides(spec, {"genotype": f"mlflow:{run.info.run_id}"})
    out = resolve_network(spec, uri)
    assert json.loads(out.params["genotype"]) == json.loads(genotype_json)
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_network(apply_overrides(spec, {"genotype": "mlflow:0123abc"}), uri)


def test_bad_genotype_references_name_the_problem(tmp_path, genotype_json):
    spec = resolve_experiment("protocol_siw", "smoke")
    with pytest.raises(SpecError, match="no such file"):
        resolve_network(apply_overrides(spec, {"genotype": str(tmp_path / "nope.json")}), "x")
    bad = json.loads(genotype_json)
    first = next(iter(bad["cells"]))
    bad["cells"][first][0][0][0] = "warp_conv_9x9"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SpecError, match="unknown op 'warp_conv_9x9'"):
        resolve_network(apply_overrides(spec, {"genotype": str(path)}), "x")


def runs(rows: list[tuple[str, str, str, dict]]) -> pd.DataFrame:
    """Fake child runs: (network, fold, status, {metric: value})."""
    out = []
    for net, fold, status, metrics in rows:
        row = {"params.network": net, "tags.fold": fold, "status": status}
        row.update({f"metrics.test_{k}": v for k, v in metrics.items()})
        out.append(row)
    return pd.DataFrame(out)


def test_oulu_table_averages_p3_folds_and_reports_failures():
    m = {"apcer": 0.1, "bpcer": 0.2, "acer": 0.15}
    rows = [("cdcn", "p1", "FINISHED", m), ("cdcn", "p2", "FAILED", {})]
    rows += [("cdcn", f"p3_{i}", "FINISHED", {**m, "acer": 0.1 * i}) for i in range(1, 6)]
    rows += [("cdcn", "p3_6", "FAILED", {})]
    table = protocol_table("oulu_npu", runs(rows)).set_index("Prot.")
    assert table.loc["P1", "ACER (%)"] == "15.0 (n = 1)"  # one fold: no spread
    assert table.loc["P2", "ACER (%)"] == "failed"
    assert table.loc["P3", "ACER (%)"] == "30.0 ± 15.8 (1 failed)"
    assert table.loc["P3", "folds"] == 6


def test_lodo_table_one_column_per_target_and_average():
    rows = [
        ("cdcn", f, "FINISHED", {"hter": h, "auc": 0.9})
        for f, h in (("CIM_to_O", 0.1), ("OIM_to_C", 0.2), ("OCM_to_I", 0.3))
    ]
    rows.append(("cdcn", "OCI_to_M", "FAILED", {}))
    table = protocol_table("ocim_lodo", runs(rows))
    row = table.iloc[0]
    assert row["CIM_to_O HTER (%)"] == "10.0 (n = 1)"
    assert row["OCI_to_M HTER (%)"] == "failed"
    assert row["Avg. HTER (%)"] == "20.0 ± 10.0 (1 fold(s) failed)"
    assert list(table.columns)[:3] == ["Method", "CIM_to_O HTER (%)", "CIM_to_O AUC (%)"]


def test_siwm_table_has_a_column_per_type_and_four_metric_rows():
    rows = [
        ("cdcn", t, "FINISHED", {"apcer": 0.1, "bpcer": 0.1, "acer": 0.1, "eer": 0.05})
        for t in SIWM_TYPES
    ]
    table = protocol_table("siwm_loto", runs(rows))
    assert list(table["Metric"]) == ["APCER (%)", "BPCER (%)", "ACER (%)", "EER (%)"]
    assert [c for c in table.columns if c in SIWM_TYPES] == list(SIWM_TYPES)
    assert table.iloc[3]["Mean ± std"] == "5.0 ± 0.0"


def test_cdct_table_carries_params_and_flops():
    rows = [
        (net, f"to_{t}", "FINISHED", {"auc": 0.8, "acer": 0.2, "hter": 0.2})
        for net in ("cdcn", "cdcn_pp")
        for t in ("3dmad", "hkbu_mars", "casia_surf_3dmask")
    ]
    children = runs(rows)
    children["metrics.n_params"] = [2.2e6] * 3 + [2.3e6] * 3
    children["metrics.flops"] = [47e9] * 6
    table = protocol_table("cdct", children)
    assert list(table["Method"]) == ["cdcn", "cdcn_pp"]
    assert list(table["Params (M)"]) == ["2.200", "2.300"]
    assert "to_hkbu_mars AUC (%)" in table


def test_experiment_report_labels_the_threshold_policy():
    spec = resolve_experiment("protocol_cim_loto", "smoke").to_dict()
    parents = pd.DataFrame([{"params.spec": json.dumps(spec), "start_time": 1}])
    children = runs([("cdcn", "casia_mfsd-video", "FINISHED", {"auc": 0.75})])
    children["tags.preset"] = "smoke"
    report = experiment_report("protocol_cim_loto", parents, children)
    assert "dev EER" in report.title
    assert "75.0 (n = 1)" in render(report.table, "md")
    children["params.threshold_policy"] = "test_eer"
    assert "optimistic" in experiment_report("protocol_cim_loto", parents, children).title
