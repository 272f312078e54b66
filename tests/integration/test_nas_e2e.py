"""NAS experiments on the smoke preset through real Ray, Optuna and MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.sweeps import runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


def test_ri_random_sampling_smoke(smoke_root: Path, local_ray, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "ri_random_sampling", "--preset", "smoke", "--tracking-uri", uri]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    client = MlflowClient(uri)
    children = runs(uri, "ri_random_sampling")[1]
    nas = [r for r in children if r.data.tags["workload"] == "nas_search"]
    rnd = [r for r in children if r.data.tags["workload"] == "random_sample"]
    assert len(nas) == 4 and len(rnd) == 8  # four spaces; two Optuna random samples each
    for run in children:
        assert run.info.status == "FINISHED"
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"scores.parquet", "genotype.json", "genotype.png"} <= names
        assert run.data.metrics["n_params"] > 0 and run.data.metrics["flops"] > 0
    # the sampled architectures are Optuna's categorical choices, recorded as params
    assert all(any(k.startswith("arch.") for k in r.data.params) for r in rnd)
    genotypes = {
        json.dumps(
            json.load(
                open(client.download_artifacts(r.info.run_id, "genotype.json", str(tmp_path)))
            ),
            sort_keys=True,
        )
        for r in rnd
    }
    assert len(genotypes) == len(rnd)  # distinct samples
    # search epochs then retrain epochs: steps never repeat
    run_id = nas[0].info.run_id
    assert [m.step for m in client.get_metric_history(run_id, "search_loss_query")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [3]

    again = runner.invoke(app, args)
    assert "12 already in MLflow, 0 to run" in again.output
    assert len(runs(uri, "ri_random_sampling")[1]) == 12

    rep = runner.invoke(
        app,
        [
            "report",
            "--tables",
            "--tracking-uri",
            uri,
            "--experiment",
            "ri_random_sampling",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert rep.exit_code == 0, rep.output
    for space in ("Van-Baseline", "CD-Baseline", "Van-FAS", "CD-FAS"):
        assert space in rep.output
    assert "RI (%)" in rep.output
    assert (tmp_path / "r" / "ri_random_sampling_ri.png").stat().st_size > 1000


def test_nas_fas_space_smoke(nas_fas_sweep: str, tmp_path: Path) -> None:
    uri = nas_fas_sweep
    children = runs(uri, "nas_fas_space")[1]
    assert sorted(r.data.params["variant"] for r in children) == sorted(
        f"{i}-{t}"
        for i in ("S", "SD")
        for t in ("Van-Max", "CD-Max", "CD-CDP", "CD-Max-Att", "CD-CDP-Att")
    )
    by = {r.data.params["variant"]: r.data.params for r in children}
    assert by["SD-CD-CDP-Att"]["representation"] == "static_dynamic"
    assert by["SD-CD-CDP-Att"]["pooling"] == "cdp" and by["SD-CD-CDP-Att"]["attention"] == "True"
    assert by["S-Van-Max"]["space"] == "fas_van" and by["S-Van-Max"]["pooling"] == "max"
    rep = runner.invoke(
        app,
        [
            "report",
            "--tables",
            "--tracking-uri",
            uri,
            "--experiment",
            "nas_fas_space",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert rep.exit_code == 0 and "SD-CD-CDP-Att" in rep.output and "FLOPs (G)" in rep.output

    # A searched architecture flows straight into a protocol: its MLflow run id is the network.
    searched = next(r for r in children if r.data.params["variant"] == "S-CD-CDP")
    protocol = runner.invoke(
        app,
        [
            "run",
            "protocol_siw",
            "--preset",
            "smoke",
            "--tracking-uri",
            uri,
            "--set",
            f"genotype=mlflow:{searched.info.run_id}",
            "--set",
            "folds=[p3_print_to_replay]",
        ],
    )
    assert protocol.exit_code == 0, protocol.output
    (retrain,) = runs(uri, "protocol_siw")[1]
    assert retrain.info.status == "FINISHED"
    assert retrain.data.params["network"] == "genotype"
    assert retrain.data.params["genotype_source"] == f"mlflow:{searched.info.run_id}"
    path = MlflowClient(uri).download_artifacts(
        searched.info.run_id, "genotype.json", str(tmp_path)
    )
    assert json.loads(retrain.data.params["genotype"]) == json.loads(Path(path).read_text())
