"""Adapters of the eight datasets besides OULU-NPU (registered into ``protocols.datasets``).

Importing this package registers them; ``protocols.datasets`` imports it, so
``load_manifest(name, root)`` works for every dataset of the data root.
"""

from . import cim, masks, siw

__all__ = ["cim", "masks", "siw"]
