"""The demo config: shipped file, budgets merged over the base, strict keys, training configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from h2o_learning.demo.config import load_demo_config, resolve_demo_config, train_config
from h2o_robot_bridge.errors import ConfigError


def test_shipped_budgets_load() -> None:
    demo = load_demo_config(None, "demo")
    tiny = load_demo_config(None, "tiny")
    assert demo.train.baselines == ("sac",) and tiny.train.baselines == ()
    assert tiny.collect.transitions < demo.collect.transitions
    assert tiny.collect.noise_std == demo.collect.noise_std  # untouched keys come from the base
    assert tiny.train.loop["epochs"] == 1 and demo.train.loop["epochs"] > 1


def test_train_config_applies_the_demo_sections(tmp_path: Path) -> None:
    tiny = load_demo_config(None, "tiny")
    cfg = train_config(tiny, "sac", tmp_path / "real.h5", tmp_path / "runs")
    assert cfg.algorithm == "sac" and cfg.name == "demo_sac"
    assert cfg.env.sim_dynamics == "gravity_x2" and cfg.env.eval_dynamics == "real"
    assert cfg.loop.epochs == 1 and cfg.algo.hidden == (32, 32)
    assert cfg.data.path == str(tmp_path / "real.h5") and cfg.run.threads == tiny.train.threads
    assert tiny.train.export == "best" and cfg.run.export == "best"  # the best-evaluated epoch


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw.__setitem__("colect", {}), "colect"),
        (lambda raw: raw["collect"].__setitem__("transitions", "many"), "collect.transitions"),
        (lambda raw: raw["train"].__setitem__("baselines", ["h2o"]), "not a baseline"),
        (lambda raw: raw.__setitem__("trigger", "sometimes"), "trigger"),
        (lambda raw: raw["deploy"].__setitem__("episodes", 0), "deploy.episodes"),
        (lambda raw: raw["train"].__setitem__("export", "first"), "train.export"),
        (lambda raw: raw["train"].__setitem__("deploy_best", True), "deploy_best"),
    ],
)
def test_bad_configs_are_clear_errors(tmp_path: Path, edit, message: str) -> None:
    raw = yaml.safe_load(resolve_demo_config(None).read_text())
    edit(raw)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_demo_config(path, "demo")


def test_unknown_budget_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="unknown budget 'huge'"):
        load_demo_config(None, "huge")
    with pytest.raises(ConfigError, match="not found"):
        load_demo_config("/nonexistent/demo.yaml")
