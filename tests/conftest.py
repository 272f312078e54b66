"""Shared fixtures: the smoke synthetic benchmark (generated once per session), local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# OpenMP threads that wait sleep instead of spinning, here and in every process the tests start
# (drivers, Ray workers inherit the environment): a 2-thread smoke trial beside a driver and Ray's
# own processes on 2 cores measured 19-24 s of trial compute spinning and 4 s passive. Results are
# unchanged; only the idle policy differs. Set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

# One intra-op thread in the test process itself.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fas_home(tmp_path_factory) -> Path:
    """An isolated FAS_HOME (synthetic data + frame cache) shared by the session's tests."""
    home = tmp_path_factory.mktemp("fas_home")
    os.environ["FAS_HOME"] = str(home)
    os.environ.pop("FAS_DATA_ROOT", None)
    os.environ.pop("FAS_CACHE_ROOT", None)
    return home


@pytest.fixture(scope="session")
def smoke_root(fas_home: Path) -> Path:
    """The embedded synthetic benchmark at smoke size, as `orchestrate run` would generate it."""
    from orchestrator.settings import resolve_data_root

    return resolve_data_root(None, "smoke")


@pytest.fixture(scope="session")
def local_ray(fas_home: Path):
    """A real local Ray with two CPUs, shared by the integration tests."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def nas_fas_sweep(smoke_root: Path, local_ray, tmp_path_factory) -> str:
    """The tracking URI of a finished ``nas_fas_space`` smoke sweep (all ten variants), run once
    and shared by the tests that read a NAS sweep (end to end, the HTML report)."""
    from typer.testing import CliRunner

    from orchestrator.cli import app

    uri = f"sqlite:///{tmp_path_factory.mktemp('nas_fas_sweep') / 'mlflow.db'}"
    done = CliRunner().invoke(
        app, ["run", "nas_fas_space", "--preset", "smoke", "--tracking-uri", uri]
    )
    assert done.exit_code == 0, done.output
    return uri


@pytest.fixture(scope="session")
def browser():
    """The system's headless Chromium (Debian's ``chromium``) driven by Playwright, one per session
    (Playwright's sync API runs one event loop per thread). Without Chromium or Playwright the
    browser tests skip, unless ``FAS_REQUIRE_BROWSER=1`` (CI) makes that a failure."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install playwright)"
    else:
        missing = "" if executable else "no chromium executable on PATH (apt-get install chromium)"
    if missing:
        if os.environ.get("FAS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FAS_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(f"browser test: {missing}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()
