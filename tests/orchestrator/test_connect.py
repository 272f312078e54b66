"""The connection check of ``orchestrate run --address`` where no cluster is needed: addresses
that are not a cluster's, the token's source, the check's deadline. (Against a real token-auth
cluster: tests/integration/test_ray_start_cluster.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.backend.connect import ClusterError, check_cluster, is_local, token_source
from orchestrator.cli import app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns


def test_a_closed_port_is_unreachable_in_one_line_before_any_work(fas_home: Path) -> None:
    port = _closed_port()
    result = CliRunner().invoke(
        app, ["run", "ablation_cdc_theta", "--preset", "smoke", "--address", f"127.0.0.1:{port}"]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"127.0.0.1:{port}" in lines[0] and "is unreachable: Connection refused" in lines[0]
    assert f"ray start --head --port {port}" in lines[0]


def test_a_url_is_refused_with_what_to_give_instead() -> None:
    with pytest.raises(ClusterError, match="not a URL .*`ray job submit`"):
        check_cluster("http://127.0.0.1:8265")


def test_an_unresolvable_host_is_named() -> None:
    with pytest.raises(ClusterError, match="cannot resolve no-such-host.invalid"):
        check_cluster("no-such-host.invalid:6379")


def test_the_deadline_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAS_RAY_CHECK_SECONDS", "soon")
    with pytest.raises(ClusterError, match="FAS_RAY_CHECK_SECONDS='soon': expected a number"):
        check_cluster(f"127.0.0.1:{_closed_port()}")


def test_token_source_follows_rays_precedence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert token_source() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t" * 32)
    assert token_source() == "~/.ray/auth_token"
    path = tmp_path / "cluster_token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    with pytest.raises(ClusterError, match="RAY_AUTH_TOKEN_PATH=.*cluster_token: expected a"):
        token_source()  # Ray aborts on a token path it cannot read
    path.write_text("t" * 32)
    assert token_source() == str(path)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "t" * 32)
    assert token_source() == "the RAY_AUTH_TOKEN variable"


def test_only_this_machines_addresses_are_local() -> None:
    assert is_local("127.0.0.1") and is_local("localhost")
    assert not is_local("198.51.100.7")  # TEST-NET-2: never this machine
    assert not is_local("no-such-host.invalid")
