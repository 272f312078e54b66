"""The search spaces as ``SPACES`` entries: Auto-FAS's, NAS-FAS's baseline space (vanilla and
central-difference ops) and NAS-FAS's FAS space (vanilla; CD with CDP and attention)."""

from search_spaces.spaces import preset

preset("autofas", kind="autofas", C=16, layers=8, input_size=108, head="map")
preset("baseline_van", kind="baseline", op_space="van", C=16, layers=9, input_size=256)
preset("baseline_cd", kind="baseline", op_space="cd", C=16, layers=9, input_size=256)
preset("fas_van", kind="fas", op_space="van", C=64, layers=3, input_size=256, pooling="max")
preset(
    "fas_cd",
    kind="fas",
    op_space="cd",
    C=64,
    layers=3,
    input_size=256,
    pooling="cdp",
    attention=True,
)
