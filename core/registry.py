"""A small decorator registry (timm style): factories registered by name, a miss lists the names.

A registry module defines the contract (the registry and the type of its entries), never the
entries: those live in their own modules, and one module (``entries``) imports them all. The
registry imports it by name on first lookup, so the contract never imports its entries and the
entries import the contract: imports point one way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object. The docstring given at construction states the registry's contract."""

    def __init__(self, kind: str, doc: str = "", entries: str | None = None) -> None:
        self.kind = kind
        self.__doc__ = doc or f"Registry of {kind}s."
        #: The module that imports every entry (imported on first lookup); None: entries register
        #: themselves wherever they are imported.
        self.entries = entries
        self._items: dict[str, T] = {}

    def _load(self) -> dict[str, T]:
        if self.entries is not None:
            importlib.import_module(self.entries)  # cached by Python after the first call
        return self._items

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ValueError(f"{self.kind}: cannot register an object without a name")
            if key in self._items:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a plugin reloaded, a test's temporary entry); a miss is an error."""
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        try:
            return self._load()[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._load())
