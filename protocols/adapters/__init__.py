"""The dataset adapters, one module per dataset family: the one place that imports them all.

``protocols.datasets.DATASETS`` imports this package on its first lookup, so
``load_manifest(name, root)`` works for every registered dataset. A new dataset is one module
here (its adapter with ``@register_dataset``) plus its name in the import below.
"""

from . import cim, masks, oulu, siw

__all__ = ["cim", "masks", "oulu", "siw"]
