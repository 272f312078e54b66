"""The Ray cluster: connecting to it, its resources, and plain Ray tasks."""

from __future__ import annotations

import os
from typing import Any

import ray

from orchestrator.settings import LOG_LEVEL_ENV


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to a cluster (``address``, e.g. ``auto``) or start a local Ray."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        # the command line's verbosity (orchestrate -v), else warnings
        "logging_level": os.environ.get(LOG_LEVEL_ENV, "WARNING"),
        "log_to_driver": os.environ.get("FAS_RAY_LOG_TO_DRIVER", "0") == "1",
    }
    if address:
        kwargs["address"] = address
    else:
        # "local" always starts a fresh local Ray: never attach silently to another cluster
        # that happens to run on this machine. (Ray 2.60 opens a local Ray's gRPC ports on every
        # interface and ignores a loopback node address; its token authentication, on by
        # default, is what guards them: README, reliability.)
        kwargs["address"] = "local"
        if num_cpus:
            kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


def max_resources() -> dict[str, float]:
    """The largest size the autoscaler may grow the cluster to ({} on a fixed or local one)."""
    try:
        from ray._private.state import state

        return dict(state.get_max_resources_from_cluster_config() or {})
    except Exception:  # noqa: BLE001 - an internal API: fall back to the current size
        return {}


def node_id() -> str:
    """The Ray node this process runs on."""
    return ray.get_runtime_context().get_node_id()


def map_tasks(fn, items: list[Any], num_cpus: float = 1.0, on_done=None) -> list[Any]:
    """Run ``fn(item)`` as Ray tasks (e.g. cache building across the cluster), in order."""
    remote = ray.remote(num_cpus=num_cpus)(fn)
    refs = [remote.remote(item) for item in items]
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)  # raise the first failure with its original error
        if on_done:
            on_done(len(refs) - len(pending), len(refs))
    return ray.get(refs)
