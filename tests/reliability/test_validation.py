"""Everything a user can get wrong is refused before any work starts: one line naming the field
or file, exit code 2, no traceback, and nothing started (no MLflow store, no Ray, no data, no
frame cache). One case per finding of the reliability review; the corrupt video, which only
decoding can find, runs once through real Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.experiments import resolve_experiment
from orchestrator.genotype_ref import resolve_network
from orchestrator.specs import apply_overrides
from search_spaces.genotypes import sample_genotype
from search_spaces.spaces import make_space

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

SPEC = """name: {name}
workload: {workload}
protocol: oulu_npu_p1
params: {{network: cdcn, theta: 0.7, width: 0.125, input_size: 32, frames_per_video: 1,
         loss: depth, epochs: 1, lr: 1e-3, weight_decay: 0.0, batch_size: 32}}
grid: {grid}
seeds: {seeds}
"""


def spec_file(tmp: Path, name="mine", workload="train_eval", grid="{theta: [0.0]}", seeds="1"):
    path = tmp / "spec.yaml"
    path.write_text(SPEC.format(name=name, workload=workload, grid=grid, seeds=seeds))
    return str(path)


def genotype_file(tmp: Path, name: str, data: dict) -> str:
    path = tmp / name
    path.write_text(json.dumps(data))
    return str(path)


def fas_genotype() -> dict:
    return sample_genotype(make_space("fas_cd"), seed=3).to_dict()


def oulu_root(tmp: Path, smoke_root: Path, folders: dict[str, str], extra: str = "") -> str:
    """A data root whose oulu_npu/ links the smoke benchmark's split folders under ``folders``
    names (a renamed folder), optionally with an ``extra`` empty folder."""
    root = tmp / "data" / "oulu_npu"
    root.mkdir(parents=True)
    src = smoke_root / "oulu_npu"
    for real, name in {**folders, "_synthetic_depth": "_synthetic_depth"}.items():
        (root / name).symlink_to(src / real, target_is_directory=True)
    if extra:
        (root / extra).mkdir()
    return str(root.parent)


NAME_ERR = "expected 1-100 characters"
# (case id, args after `run`, the message's key part); {tmp} is the test's tmp dir.
CASES = [
    # finding 3: silently wrong or duplicated results
    (
        "inline_genotype_json",
        ["protocol_siw", "--set", 'genotype={"space": "fas_cd", "cells": {}}'],
        "genotype (inline JSON): genotype cell types [] != space 'fas_cd'",
    ),
    ("genotype_mlflow_no_id", ["protocol_siw", "--set", "genotype=mlflow:"], "no run id"),
    (
        "repeated_grid_value",
        ["ablation_cdc_theta", "--set", "grid.theta=[0.7,0.7]"],
        "grid.theta: 0.7 is listed twice",
    ),
    ("epochs_negative", ["ablation_cdc_theta", "--set", "epochs=-1"], "epochs=-1: expected an"),
    ("lr_zero", ["ablation_cdc_theta", "--set", "lr=0"], "lr=0.0: expected a number > 0"),
    (
        "theta_5",
        ["ablation_cdp_gamma", "--set", "theta=5"],
        "theta=5.0: expected a number in [0, 1]",
    ),
    ("theta_abc_grid", ["ablation_cdc_theta", "--set", "grid.theta=abc"], "grid.theta='abc'"),
    ("seeds_abc_spec", ["SPEC:seeds=abc"], "seeds: expected a positive number of seeds"),
    ("seeds_abc_set", ["ablation_cdc_theta", "--set", "seeds=abc"], "--set seeds: expected"),
    # finding 4: errors that were tracebacks
    ("network_bogus", ["ablation_cdc_theta", "--set", "network=bogus"], "network='bogus'"),
    ("cpu_zero", ["ablation_cdc_theta", "--set", "resources.cpu=0"], "resources.cpu=0.0"),
    ("unknown_workload", ["SPEC:workload=bogus"], "workload='bogus': expected one of"),
    ("grid_scalar_spec", ["SPEC:grid=5"], "grid must be a mapping; got 5"),
    ("grid_empty", ["ablation_cdc_theta", "--set", "grid.theta=[]"], "grid.theta: empty"),
    ("data_size_bogus", ["ablation_cdc_theta", "--set", "data_size=bogus"], "data_size='bogus'"),
    (
        "genotype_options",
        ["protocol_siw", "--set", "genotype=GENOTYPE:options"],
        "unknown search-space field(s) ['bogus']",
    ),
    (
        "cache_root_unwritable",
        ["ablation_cdc_theta", "--cache-root", "{tmp}/a_file/frames"],
        "--cache-root {tmp}/a_file/frames is inside {tmp}/a_file, a file",
    ),
    (
        "cache_root_read_only",  # /proc takes no files, even from root
        ["ablation_cdc_theta", "--cache-root", "/proc/fas-frames"],
        "--cache-root /proc/fas-frames is not writable",
    ),
    (
        "storage_unwritable",
        ["ablation_cdc_theta", "--storage-path", "{tmp}/a_file/ray"],
        "Ray storage path {tmp}/a_file/ray is inside",
    ),
    ("fas_home_unwritable", ["ablation_cdc_theta", "ENV:FAS_HOME={tmp}/a_file"], "(FAS_HOME)"),
    ("spec_name_traversal", ["SPEC:name=../../../x"], "name='../../../x': " + NAME_ERR),
    # finding 7: size guards
    ("grid_10000", ["ablation_cdc_theta", "--set", "GRID10000"], "10000 trials (limit 1000"),
    (
        "genotype_400_nodes",
        ["protocol_siw", "--set", "genotype=GENOTYPE:big"],
        "8 cells x 400 nodes x 2 edges = 6400 op instances (limit 500); pass --yes-large",
    ),
]


def _expand(args: list[str], tmp: Path, monkeypatch) -> list[str]:
    (tmp / "a_file").write_text("not a folder")
    out = []
    for a in args:
        a = a.replace("{tmp}", str(tmp))
        if a.startswith("SPEC:"):
            key, value = a[5:].split("=", 1)
            a = spec_file(tmp, **{key: value})
        elif a.startswith("ENV:"):
            key, value = a[4:].split("=", 1)
            monkeypatch.setenv(key, value)
            continue
        elif a == "GRID10000":
            a = "grid.theta=[" + ",".join(str(i / 10000) for i in range(10000)) + "]"
        elif a == "genotype=GENOTYPE:options":
            bad = fas_genotype()
            bad["options"]["bogus"] = 1
            a = "genotype=" + genotype_file(tmp, "options.json", bad)
        elif a == "genotype=GENOTYPE:big":
            node = [["sep_conv_3x3", 0], ["skip_connect", 1]]
            cells = {t: [node] * 400 for t in ("normal", "reduce")}
            big = {"space": "autofas", "options": {"n_nodes": 400}, "cells": cells}
            a = "genotype=" + genotype_file(tmp, "big.json", big)
        out.append(a)
    return out


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """A fresh FAS_HOME and tracking store under tmp_path, both still absent."""
    home, store = tmp_path / "home", tmp_path / "mlruns"
    monkeypatch.setenv("FAS_HOME", str(home))
    for var in ("FAS_DATA_ROOT", "FAS_CACHE_ROOT", "FAS_STORAGE_PATH", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    return {"home": home, "store": store, "uri": f"sqlite:///{store}/mlflow.db"}


def assert_refused(out, message: str, isolated: dict[str, Path], ray_was: bool) -> None:
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1], out.output
    assert len([line for line in lines if line.startswith("error")]) == 1, out.output
    assert "Traceback" not in out.output
    assert files_under(isolated["store"]) == [], "an MLflow store was created"
    assert files_under(isolated["home"]) == [], "data or frames were written"
    assert ray.is_initialized() == ray_was, "Ray was started"


@pytest.mark.parametrize(("case", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_any_work(case, args, message, isolated, tmp_path, monkeypatch) -> None:
    argv = ["run", *_expand(args, tmp_path, monkeypatch), "--preset", "smoke"]
    ray_was = ray.is_initialized()
    out = runner.invoke(app, [*argv, "--tracking-uri", isolated["uri"]])
    assert_refused(out, message.replace("{tmp}", str(tmp_path)), isolated, ray_was)


@pytest.mark.parametrize(
    ("case", "folders", "extra", "message"),
    [
        (
            "renamed_test_files",
            {"Train_files": "Train_files", "Dev_files": "Dev_files", "Test_files": "test_files"},
            "",
            "test_files: unexpected folder in oulu_npu/ (did you mean Test_files/?)",
        ),
        (
            "extra_files_folder",
            {"Train_files": "Train_files", "Dev_files": "Dev_files", "Test_files": "Test_files"},
            "Extra_files",
            "Extra_files: unexpected folder in oulu_npu/; expected only Train_files/",
        ),
    ],
    ids=["renamed_test_files", "extra_files_folder"],
)
def test_dataset_layout_refused_before_any_work(
    case, folders, extra, message, isolated, smoke_root, tmp_path
) -> None:
    root = oulu_root(tmp_path, smoke_root, folders, extra)
    args = ["run", "ablation_cdc_theta", "--preset", "smoke", "--data-root", root]
    ray_was = ray.is_initialized()
    out = runner.invoke(app, [*args, "--tracking-uri", isolated["uri"]])
    assert_refused(out, message, isolated, ray_was)


def test_every_built_in_experiment_passes_validation() -> None:
    from orchestrator.experiments import EXPERIMENTS
    from orchestrator.specs import PRESETS
    from orchestrator.validation import MAX_TRIALS, n_trials, validate_spec

    for name in EXPERIMENTS:
        for preset in PRESETS:
            spec = validate_spec(resolve_experiment(name, preset))
            assert n_trials(spec) <= MAX_TRIALS // 10  # the limit is far above every preset


def test_yes_large_passes_the_size_guard(isolated, tmp_path) -> None:
    grid = "grid.theta=[" + ",".join(str(i / 2000) for i in range(2000)) + "]"
    args = ["run", "ablation_cdc_theta", "--preset", "smoke", "--set", grid, "--yes-large"]
    args += ["--data-root", str(tmp_path / "no_data"), "--tracking-uri", isolated["uri"]]
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and "does not exist" in out.output  # the next check, not the guard


def test_valid_inline_genotype_is_the_network() -> None:
    """Inline JSON used to be skipped: CDCN trained under a genotype label."""
    spec = resolve_experiment("protocol_siw", "smoke")
    inline = json.dumps(fas_genotype())
    out = resolve_network(apply_overrides(spec, {"genotype": inline}), "sqlite:///unused.db")
    assert out.params["network"] == "genotype" and "network" not in out.grid
    assert json.loads(out.params["genotype"]) == json.loads(inline)
    assert out.params["genotype_source"].startswith("inline:")


def test_verbose_shows_the_traceback(isolated) -> None:
    args = ["run", "ablation_cdc_theta", "--set", "epochs=-1", "-v"]
    out = runner.invoke(app, [*args, "--tracking-uri", isolated["uri"]])
    assert out.exit_code == 2 and "Traceback" in out.output and "epochs=-1" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ablation_cdc_theta", "--set", "grid.theta=[0.7,0.7]"], "grid.theta: 0.7 is listed"),
        (["SPEC:name=../../../x"], "name='../../../x'"),
    ],
    ids=["duplicate_grid", "name_traversal"],
)
def test_refusal_through_a_real_process(args, message, isolated, tmp_path, monkeypatch) -> None:
    argv = _expand(args, tmp_path, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "run", *argv, "--tracking-uri", isolated["uri"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert message in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert not isolated["store"].exists() and files_under(isolated["home"]) == []
    assert not (tmp_path / "x").exists()


def corrupt_root(tmp: Path, smoke_root: Path) -> tuple[str, Path]:
    """A data root linking the smoke OULU-NPU files, with its first training video zero bytes."""
    src = smoke_root / "oulu_npu"
    root = tmp / "corrupt" / "oulu_npu"
    (root / "Train_files").mkdir(parents=True)
    for name in ("Dev_files", "Test_files", "_synthetic_depth"):
        (root / name).symlink_to(src / name, target_is_directory=True)
    videos = sorted((src / "Train_files").iterdir())
    bad = root / "Train_files" / next(p.name for p in videos if p.suffix == ".avi")
    for p in videos:
        (root / "Train_files" / p.name).symlink_to(p)
    bad.unlink()
    bad.write_bytes(b"")
    return str(root.parent), bad


def test_a_corrupt_video_in_a_trial_names_the_file(smoke_root, tmp_path) -> None:
    """Inside a trial the backend reports ``f"{type(exc).__name__}: {exc}"``: the file's name."""
    from workloads.base import WORKLOADS, DataHandle

    root, bad = corrupt_root(tmp_path, smoke_root)
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    params = {**spec.params, "theta": 0.7, "seed": 0}
    data = DataHandle(Path(root), "oulu_npu_p1", "p1", tmp_path / "cache")
    with pytest.raises(ValueError) as info:
        WORKLOADS.get("train_eval").run_trial(params, data, lambda *a: None)
    assert f"{type(info.value).__name__}: {info.value}" == (
        f"VideoDecodeError: {bad}: empty file (0 bytes)"
    )


@pytest.mark.integration
@pytest.mark.slow
def test_a_corrupt_video_is_one_line_naming_it(smoke_root, local_ray, tmp_path) -> None:
    """Found while building the frame cache in Ray tasks, before any trial: one line, exit 2."""
    root, bad = corrupt_root(tmp_path, smoke_root)
    args = ["run", "ablation_cdc_theta", "--preset", "smoke", "--set", "grid.theta=[0.7]"]
    args += ["--data-root", root, "--cache-root", str(tmp_path / "cache")]
    out = runner.invoke(app, [*args, "--tracking-uri", f"sqlite:///{tmp_path}/m/mlflow.db"])
    assert out.exit_code == 2, out.output
    errors = [line for line in out.output.splitlines() if "error" in line.lower()]
    assert errors == [f"error: {bad}: empty file (0 bytes)"], out.output
    assert "Traceback" not in out.output


def test_spec_files_read_numbers_and_seed_counts_as_meant(tmp_path) -> None:
    """YAML 1.1 reads ``1e-3`` as a string and ``seeds: 3`` used to be a TypeError."""
    from orchestrator.specs import load_spec_file

    spec = load_spec_file(Path(spec_file(tmp_path, seeds="3")))
    assert spec.params["lr"] == 1e-3 and spec.seeds == (0, 1, 2)
    spec = apply_overrides(spec, {"lr": "5e-4", "seeds": "[4, 7]"})
    assert spec.params["lr"] == 5e-4 and spec.seeds == (4, 7)


def test_genotype_of_an_unknown_mlflow_run_is_one_line(isolated) -> None:
    """The one reference that must read the store: the run is looked up, then refused."""
    args = ["run", "protocol_siw", "--preset", "smoke", "--set", "genotype=mlflow:0123abc"]
    out = runner.invoke(app, [*args, "--tracking-uri", isolated["uri"]])
    assert out.exit_code == 2, out.output
    assert out.output.strip().splitlines()[-1].startswith("error: MLflow run '0123abc' not found")
    assert "Traceback" not in out.output and files_under(isolated["home"]) == []
