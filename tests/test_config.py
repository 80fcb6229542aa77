import math

import pytest

from dcmh_tf.config import PRESETS, Config, resolve_config
from dcmh_tf.errors import ConfigError


def test_paper_preset_matches_the_paper():
    paper = PRESETS["paper"]
    assert (paper.batch_size, paper.epochs, paper.gamma, paper.eta, paper.optimizer) == (128, 500, 1.0, 1.0, "sgd")
    assert paper.image_size == 224 and paper.hidden == 4096 and paper.weight_decay == 5e-4
    assert paper.learning_rate(0) == pytest.approx(10**-1.5)
    assert paper.learning_rate(499) == pytest.approx(1e-3)
    # log-linear: the middle epoch sits at the geometric mean
    assert paper.learning_rate(249.5) == pytest.approx(math.sqrt(10**-1.5 * 1e-3))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"bits": 0}, "bits must be a positive integer, received 0"),
        ({"batch_size": -1}, "batch_size must be a positive integer, received -1"),
        ({"gamma": -0.1}, "gamma must be a finite number >= 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam; received 'rmsprop'"),
        ({"image_size": 32}, "image_size must be at least 59"),
        ({"colour": 1}, "unknown config field(s): colour"),
    ],
)
def test_bad_values_are_refused_with_the_value_received(changes, message):
    with pytest.raises(ConfigError) as error:
        PRESETS["demo"].replace(**changes)
    assert message in str(error.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'fast'; expected one of paper, demo"):
        resolve_config("fast")


def test_json_round_trip_and_overrides():
    config = resolve_config("demo", bits=32, gamma=None)
    assert config.bits == 32 and config.gamma == PRESETS["demo"].gamma
    assert Config.from_dict(__import__("json").loads(config.to_json())) == config
