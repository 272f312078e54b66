"""cluster.yaml and cluster-local.yaml: Ray's own launcher validation, and what the project needs.

Offline by construction: Ray's checks up to (not including) the cloud provider's bootstrap, which
for AWS calls the AWS API. Every test runs with sockets refused, so a network call fails loudly.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.commands import _bootstrap_config
from ray.autoscaler._private.util import prepare_config, validate_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {"aws": ROOT / "cluster.yaml", "local": ROOT / "cluster-local.yaml"}
ENV_FILE = "~/.fas.env"
ORCHESTRATOR_ENV = ("MLFLOW_TRACKING_URI", "FAS_STORAGE_PATH", "FAS_DATA_ROOT", "FAS_CACHE_ROOT")
#: Ray's token file, the same path here (where `ray get-auth-token --generate` writes it) and on
#: every node (where RAY_AUTH_MODE=token makes every Ray process read it).
TOKEN = "~/.ray/auth_token"
COMMAND_LISTS = ("head_setup_commands", "worker_setup_commands", "head_start_ray_commands")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during config validation: {args[1:]}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _raw(name: str) -> dict:
    return yaml.safe_load(CONFIGS[name].read_text())


def _prepared(name: str) -> dict:
    """What `ray up` works with: defaults merged, setup lists merged per node role."""
    return prepare_config(copy.deepcopy(_raw(name)))


def _index(commands: list[str], needle: str) -> int:
    hits = [i for i, c in enumerate(commands) if needle in c]
    assert hits, f"no command contains {needle!r}"
    return hits[0]


def _mlflow_command(config: dict) -> str:
    """The head start command that launches the server (not the one that stops an old one)."""
    found = [c for c in config["head_start_ray_commands"] if re.search(r"mlflow server\s+--", c)]
    assert len(found) == 1, config["head_start_ray_commands"]
    return found[0]


def _env_after_setup(config: dict, role: str, home: Path) -> tuple[dict[str, str], str]:
    """Run the commands that write ~/.fas.env in a scratch HOME; return the sourced environment."""
    writers = [c for c in config[f"{role}_setup_commands"] if ENV_FILE in c]
    clean = {"HOME": str(home), "PATH": os.environ["PATH"]}
    (home / ".bashrc").touch()
    for command in writers:
        subprocess.run(["bash", "-c", command], env=clean, cwd=home, check=True)
    names = (*ORCHESTRATOR_ENV, "FAS_SHARED", "FAS_MLFLOW_ARTIFACTS", "RAY_AUTH_MODE")
    names = " ".join(f"{v}=${v}" for v in names)
    out = subprocess.run(
        ["bash", "-c", f"source {ENV_FILE} && printf '%s\\n' {names}"],
        env=clean,
        cwd=home,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    return {k: v for k, v in env.items() if v}, (home / ".bashrc").read_text()


@pytest.mark.parametrize("name", CONFIGS)
def test_ray_accepts_the_config(name: str) -> None:
    raw = _raw(name)
    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]
    if name == "local":
        # The local provider needs no cloud API: run `ray up`'s whole config bootstrap.
        booted = _bootstrap_config(copy.deepcopy(raw), no_config_cache=True)
        assert booted["provider"]["worker_ips"] == raw["provider"]["worker_ips"]


def test_validation_rejects_a_broken_config() -> None:
    broken = _prepared("aws")
    broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(broken)


@pytest.mark.parametrize("name", CONFIGS)
def test_head_runs_mlflow_on_loopback_only(name: str) -> None:
    config = _prepared(name)
    mlflow = _mlflow_command(config)
    assert re.search(r"--host[= ]127\.0\.0\.1\b", mlflow), mlflow
    assert "0.0.0.0" not in mlflow
    assert "--backend-store-uri" in mlflow and "--artifacts-destination" in mlflow
    ray_head = config["head_start_ray_commands"][
        _index(config["head_start_ray_commands"], "ray start --head")
    ]
    assert "--dashboard-host=127.0.0.1" in ray_head
    assert all("mlflow server" not in c for c in config["worker_start_ray_commands"])


@pytest.mark.parametrize("name", CONFIGS)
def test_setup_installs_torch_before_the_project(name: str) -> None:
    config = _prepared(name)
    assert config["file_mounts"] == {"~/fas-orchestrator": ".", TOKEN: TOKEN}
    for role in ("head", "worker"):
        commands = config[f"{role}_setup_commands"]
        torch = _index(commands, "pip install -q torch==2.13.0")
        project = _index(commands, "pip install -q -e ~/fas-orchestrator")
        assert torch < project, f"{role}: torch must be installed before the project"
        # Cluster nodes run the launcher's Ray version (`ray up` and `ray job submit` need it).
        assert f'"ray[default]=={ray.__version__}"' in commands[project]


def test_gpu_workers_autoscale_and_the_head_has_no_gpu() -> None:
    config = _prepared("aws")
    types = config["available_node_types"]
    head = types.pop(config["head_node_type"])
    assert head["resources"].get("GPU", 0) == 0
    assert head["resources"].get("CPU", 0) < 8  # the head keeps cores for MLflow and the driver
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    assert gpu, "no worker type requests a GPU"
    assert all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in gpu)
    for node_type in (head, *gpu):
        assert node_type["node_config"]["IamInstanceProfile"]["Name"]  # S3 through a profile


@pytest.mark.parametrize("name", CONFIGS)
def test_no_secrets_in_the_config(name: str) -> None:
    text = CONFIGS[name].read_text()
    lowered = text.lower()
    for marker in ("aws_secret", "aws_access_key", "secret_access_key", "private key-----"):
        assert marker not in lowered, marker
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text)
    assert not re.search(r"postgresql://[^@\s]*:[^@\s]*@", text)  # no password in a DB URI


@pytest.mark.parametrize("name", CONFIGS)
def test_env_file_hands_the_settings_to_orchestrate(name: str, tmp_path: Path) -> None:
    config = _prepared(name)
    head_home, worker_home = tmp_path / "head", tmp_path / "worker"
    head_home.mkdir()
    worker_home.mkdir()
    env, bashrc = _env_after_setup(config, "head", head_home)
    assert set(ORCHESTRATOR_ENV) <= set(env), env
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    shared = env["FAS_SHARED"]
    assert env["FAS_DATA_ROOT"].startswith(shared + "/")
    assert env["FAS_CACHE_ROOT"].startswith(shared + "/")
    if name == "aws":
        assert env["FAS_STORAGE_PATH"].startswith("s3://")
        assert env["FAS_MLFLOW_ARTIFACTS"].startswith("s3://")
    else:
        assert env["FAS_STORAGE_PATH"].startswith(shared + "/")
    assert f"source {ENV_FILE}" in bashrc.splitlines()
    # Running the setup twice (a second `ray up`) must not duplicate anything.
    again, bashrc_again = _env_after_setup(config, "head", head_home)
    assert again == env and bashrc_again == bashrc
    # Workers get the storage settings but never the tracking store: only the driver writes it.
    worker_env, _ = _env_after_setup(config, "worker", worker_home)
    assert "MLFLOW_TRACKING_URI" not in worker_env
    assert worker_env["FAS_DATA_ROOT"] == env["FAS_DATA_ROOT"]
    # Token authentication on every node: `ray start` (head and workers), the autoscaler and
    # `orchestrate run --address auto` in a job all send the mounted token.
    assert env["RAY_AUTH_MODE"] == worker_env["RAY_AUTH_MODE"] == "token"


@pytest.mark.parametrize("name", CONFIGS)
def test_commands_are_valid_bash(name: str) -> None:
    config = _prepared(name)
    for key in (*COMMAND_LISTS, "worker_start_ray_commands"):
        for command in config[key]:
            check = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
            assert check.returncode == 0, f"{key}: {command}\n{check.stderr}"
            shlex.split(command)  # balanced quotes


def test_local_addresses_are_documentation_placeholders() -> None:
    provider = _raw("local")["provider"]
    test_nets = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24")]
    test_nets.append(ipaddress.ip_network("203.0.113.0/24"))
    for address in (provider["head_ip"], *provider["worker_ips"]):
        assert any(ipaddress.ip_address(address) in net for net in test_nets), address


def test_every_aws_node_brings_the_users_security_group() -> None:
    """Without SecurityGroupIds Ray creates a group admitting SSH from 0.0.0.0/0: every node type
    names the user's group, whose creation (SSH from the user's CIDR only) the header gives."""
    raw, text = _raw("aws"), CONFIGS["aws"].read_text()
    for name, node_type in raw["available_node_types"].items():
        groups = node_type["node_config"].get("SecurityGroupIds")
        assert groups and all(g.startswith("sg-") for g in groups), name
    assert "security_group" not in raw["provider"]  # Ray would create and open its own group
    ingress = [ln for ln in text.splitlines() if "--port 22" in ln]
    assert ingress and all("--cidr <YOUR-CIDR>" in ln for ln in ingress)
    assert "--cidr 0.0.0.0/0" not in text


def test_the_local_cluster_uses_a_key_made_for_it() -> None:
    key = _raw("local")["auth"]["ssh_private_key"]
    assert Path(key).name not in {"id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"}, key
    assert f"ssh-keygen -t ed25519 -N '' -f {key}" in CONFIGS["local"].read_text()
