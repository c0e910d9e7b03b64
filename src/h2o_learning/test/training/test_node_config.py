"""The trainer node's parameters -> config, without ROS (the node only declares and reads)."""

from __future__ import annotations

import pytest

from h2o_learning.training.node_config import PARAMETERS, node_config
from h2o_robot_bridge.errors import ConfigError


def test_defaults_are_the_shipped_h2o_config() -> None:
    cfg = node_config({})
    assert cfg.train.algorithm == "h2o" and cfg.run_dir is None
    assert cfg.resume is False and cfg.export is True
    assert set(PARAMETERS) == {"config", "dataset", "overrides", "run_dir", "resume", "export"}


def test_dataset_and_overrides_reach_the_training_config() -> None:
    cfg = node_config(
        {
            "config": "sac_stand",
            "dataset": " data/x.h5 ",
            "overrides": ["", "seed=7", "loop.epochs=3"],
            "run_dir": " runs/a ",
            "resume": True,
        }
    )
    assert cfg.train.algorithm == "sac" and cfg.train.seed == 7
    assert cfg.train.loop.epochs == 3 and cfg.train.data.path == "data/x.h5"
    assert cfg.run_dir == "runs/a" and cfg.resume is True


@pytest.mark.parametrize(
    ("values", "match"),
    [({"overrides": ["loop.nope=1"]}, "loop.nope"), ({"config": "no_such_config"}, "no_such")],
)
def test_bad_parameters_name_what_is_wrong(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        node_config(values)
