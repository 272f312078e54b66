"""Every network and search space: the one place that imports the entries (``NETWORKS`` and
``SPACES`` import this module on their first lookup). A new network family or search space is
one module registering into them plus its name in the import below."""

from search_spaces import cdcn, presets

__all__ = ["cdcn", "presets"]
