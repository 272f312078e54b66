"""A training loop's resume state as one file: weights, optimizers, schedulers, every RNG, the epoch.

Restoring it into freshly built objects makes the next epoch see what an uninterrupted run would:
the same weights and optimizer moments, the same learning rate, the same shuffle and augmentation
(both drawn from the train loader's generator, see ``workloads.loading``) and the same dropout
draws (torch, numpy and python RNGs). On CPU a
resumed run therefore ends bit-identical to an uninterrupted one with the same thread count. On
CUDA the CUDA RNGs are restored too, but non-deterministic kernels (cuDNN autotuning, atomics) may
differ in the last bits, as two uninterrupted CUDA runs do.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from search_spaces.genotypes import Genotype
from workloads.base import DataHandle
from workloads.nas.loop import SearchResult

#: The resume state's file name inside a checkpoint.
STATE_FILE = "state.pt"


def due(data: DataHandle, every: int, epoch: int) -> bool:
    """Whether ``epoch`` ends with a checkpoint: every ``every`` epochs (the ``checkpoint_every``
    param; 0: never), and only when the caller stores them."""
    return bool(data.checkpointing) and every > 0 and epoch % every == 0


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG a training step may draw from, as plain values (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any], generator: torch.Generator | None = None) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_state(
    epoch: int,
    stateful: Mapping[str, Any],
    generator: torch.Generator | None = None,
    **extra: Any,
) -> bytes:
    """The state at the end of ``epoch``: each object's ``state_dict`` (None entries skipped),
    the RNGs and ``extra`` plain values (e.g. seconds trained so far)."""
    states = {k: v.state_dict() for k, v in stateful.items() if v is not None}
    buf = io.BytesIO()
    torch.save({"epoch": int(epoch), "states": states, "rng": rng_state(generator), **extra}, buf)
    return buf.getvalue()


def load_state(data: DataHandle, name: str = STATE_FILE) -> dict[str, Any] | None:
    """The resume state in ``data.resume`` (None on a fresh start)."""
    blob = (data.resume or {}).get(name)
    if blob is None:
        return None
    try:
        return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error to the user
        raise ValueError(f"checkpoint file {name!r} cannot be read: {exc}") from exc


def restore(
    state: Mapping[str, Any],
    stateful: Mapping[str, Any],
    generator: torch.Generator | None = None,
) -> int:
    """Load ``state`` into freshly built objects (same names as saved) and the RNGs; returns the
    epoch it was saved after. Call it last, after everything that draws random numbers at setup
    (weight init), so the RNGs continue exactly where the saved run left them."""
    saved = state["states"]
    for name, obj in stateful.items():
        if obj is None:
            continue
        if name not in saved:
            raise ValueError(f"checkpoint has no state for {name!r}; it holds {sorted(saved)}")
        obj.load_state_dict(saved[name])
    set_rng_state(state["rng"], generator)
    return int(state["epoch"])


#: The finished search inside a ``nas_search`` checkpoint.
SEARCH_FILE = "search.json"
#: A search interrupted between epochs: ``save_state`` of ``nas.loop.SearchLoop``'s objects with
#: its ``progress`` and the seconds searched so far.
SEARCH_STATE_FILE = "search_state.pt"


def search_state(result: SearchResult, info: dict[str, Any], seconds: float) -> bytes:
    """A finished PC-DARTS search as a checkpoint file (plain JSON)."""
    state = {
        "genotype": result.genotype.to_json(indent=None),
        "history": result.history,
        "trajectory": result.trajectory,
        "collapse": result.collapse,
        "info": info,
        "seconds": seconds,
    }
    return json.dumps(state).encode()


def saved_search(data: DataHandle) -> tuple[SearchResult, dict[str, Any], float] | None:
    """The search a resumed ``nas_search`` already finished (None: search)."""
    blob = (data.resume or {}).get(SEARCH_FILE)
    if blob is None:
        return None
    try:
        s = json.loads(blob)
        genotype = Genotype.from_json(s["genotype"])
        result = SearchResult(genotype, s["history"], s["trajectory"], s["collapse"])
        return result, dict(s["info"]), float(s["seconds"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint file {SEARCH_FILE!r} cannot be read: {exc}") from exc
