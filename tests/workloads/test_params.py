"""The typed-params parser: each flat config key read by its field's rule, errors naming the
param, the value and what is valid."""

from __future__ import annotations

import pytest

from workloads.params import MissingParams, ParamError, UnknownParam, parse
from workloads.search_params import RandomSampleParams
from workloads.train_params import TrainEvalParams

TRAIN = {
    "network": "cdcn",
    "input_size": 32,
    "frames_per_video": 1,
    "epochs": 1,
    "lr": 1,
    "weight_decay": 0.0,
    "batch_size": 8,
}


def test_defaults_types_and_json_text() -> None:
    p = parse(TrainEvalParams, {**TRAIN, "augment": "true", "epochs": "3"})
    assert (p.epochs, p.augment, p.loss, p.seed, p.checkpoint_every) == (3, True, "binary", 0, 1)
    assert p.lr == 1.0 and isinstance(p.lr, float)  # an int is a valid float
    assert p.theta is None  # absent: the network's own default


def test_errors_name_the_param_the_value_and_what_is_valid() -> None:
    with pytest.raises(ParamError, match=r"^epochs=0: expected an integer >= 1$"):
        parse(TrainEvalParams, {**TRAIN, "epochs": 0})
    with pytest.raises(ParamError, match=r"^network='bogus': expected one of .*cdcn.*genotype"):
        parse(TrainEvalParams, {**TRAIN, "network": "bogus"})
    with pytest.raises(ParamError, match=r"^theta=None: expected a number in \[0, 1\]$"):
        parse(TrainEvalParams, {**TRAIN, "theta": None})  # absent is fine, null is not
    with pytest.raises(ParamError, match=r"^augment='yes': expected true or false$"):
        parse(TrainEvalParams, {**TRAIN, "augment": "yes"})
    with pytest.raises(UnknownParam, match=r"^k: not a param; valid params: C, augment"):
        parse(TrainEvalParams, {**TRAIN, "k": 4})
    with pytest.raises(MissingParams, match=r"^missing network, input_size \(needs epochs"):
        parse(
            TrainEvalParams, {k: v for k, v in TRAIN.items() if k not in ("network", "input_size")}
        )


def test_a_prefix_field_gathers_its_keys() -> None:
    p = parse(RandomSampleParams, {"arch.normal_n0_op0": "skip_connect", "sample_seed": 2})
    assert p.arch == {"normal_n0_op0": "skip_connect"} and p.sample_seed == 2
    assert parse(RandomSampleParams, {}).arch == {}
