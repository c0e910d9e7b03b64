"""Training config: shipped files, strict keys and types, --set overrides, extends, hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from h2o_learning.algorithms import ALGORITHMS
from h2o_learning.training.config import (
    LATER_ALGO_DEFAULTS,
    LATER_ENV_DEFAULTS,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    learning_dict,
    load_config,
    save_config,
)
from h2o_robot_bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]
SHIPPED = sorted((ROOT / "config" / "train").glob("*.yaml"))


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_required_presets_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    for algo in ALGORITHMS:
        assert f"{algo}_stand" in names
    assert any(n.startswith("smoke") for n in names)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path: Path, tmp_path: Path) -> None:
    config = load_config(path)
    assert config_from_dict(config_to_dict(config)) == config
    saved = save_config(config, tmp_path / "config.yaml")
    assert load_config(saved) == config
    assert saved.read_text().startswith(
        f"# resolved h2o training config, hash {config_hash(config)}"
    )


def test_load_by_name_equals_load_by_path() -> None:
    assert load_config("h2o_stand") == load_config(ROOT / "config/train/h2o_stand.yaml")
    assert load_config("sac_stand.yaml").algorithm == "sac"


def test_presets_differ_only_where_they_say() -> None:
    h2o, sac = load_config("h2o_stand"), load_config("sac_stand")
    assert replace(sac, name="h2o_stand", algorithm="h2o") == h2o


def test_extends_merges_sections_key_by_key(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", {"name": "b", "algorithm": "h2o", "loop": {"epochs": 7}})
    write(tmp_path / "top.yaml", {"extends": "base.yaml", "name": "t", "loop": {"eval_every": 3}})
    config = load_config(tmp_path / "top.yaml")
    assert (config.name, config.loop.epochs, config.loop.eval_every) == ("t", 7, 3)


def test_extends_loop_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"extends": "b.yaml", "name": "a", "algorithm": "sac"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml", "name": "b", "algorithm": "sac"})
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"algorithm": "h2o"}, "missing required config key 'name'"),
        ({"name": "x"}, "missing required config key 'algorithm'"),
        ({"name": "x", "algorithm": "h2o", "lop": {}}, "unknown key.*'lop'"),
        ({"name": "x", "algorithm": "h2o", "loop": {"epoch": 3}}, r"loop\.epoch"),
        ({"name": "x", "algorithm": "h2o", "algo": {"hiden": [3]}}, r"algo\.hiden"),
        ({"name": "x", "algorithm": "h2o", "loop": {"epochs": "ten"}}, "loop.epochs: expected"),
        ({"name": "x", "algorithm": "h2o", "loop": {"epochs": 2.5}}, "loop.epochs: expected"),
        ({"name": "x", "algorithm": "h2o", "loop": {"epochs": 0}}, "loop.epochs must be >= 1"),
        ({"name": "x", "algorithm": "h2o", "loop": {"eval_sim": 1}}, "true/false"),
        ({"name": "x", "algorithm": "ppo"}, "algorithm 'ppo' unknown"),
        ({"name": "x", "algorithm": "h2o", "env": {"task": "fly"}}, "unknown task"),
        ({"name": "x", "algorithm": "h2o", "env": {"command": [1.0]}}, r"env\.command"),
        ({"name": "x", "algorithm": "h2o", "algo": {"gamma": 1.5}}, "gamma"),
        ({"name": "x", "algorithm": "h2o", "algo": {"hidden": [0, 3]}}, "hidden"),
        ({"name": "x", "algorithm": "h2o", "loop": []}, "loop: expected a mapping"),
    ],
)
def test_bad_configs_name_the_key(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)


def test_removed_darc_plus_flag_is_rejected_by_name() -> None:
    # DARC+ is selected one way only: ``algorithm: darc_plus`` (config/train/darc_plus_stand).
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['algo\.darc_plus'\]"):
        load_config("darc_stand", ["algo.darc_plus=true"])
    assert load_config("darc_plus_stand").algorithm == "darc_plus"


def test_overrides_parse_yaml_values_and_reach_nested_keys() -> None:
    config = load_config(
        "h2o_stand",
        [
            "loop.epochs=3",
            "algo.hidden=[64, 64]",
            "algo.tau=1e-2",
            "data.path=null",
            "env.sim_overrides={gravity_scale: 1.5}",
            "seed=9",
        ],
    )
    assert config.loop.epochs == 3 and config.algo.hidden == (64, 64)
    assert config.algo.tau == pytest.approx(1e-2) and config.data.path is None
    assert config.env.sim_overrides == {"gravity_scale": 1.5} and config.seed == 9


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("loop.epochz=3", r"loop\.epochz"),
        ("loop.epochs", "not of the form"),
        ("=3", "not of the form"),
        ("seed.x=1", "'seed' is not a section"),
        ("loop.epochs=[1", "not valid YAML"),
    ],
)
def test_bad_overrides_fail(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config("h2o_stand", [override])


def test_apply_overrides_does_not_touch_its_input() -> None:
    data = {"loop": {"epochs": 1}}
    apply_overrides(data, ["loop.epochs=5"])
    assert data == {"loop": {"epochs": 1}}


def test_hash_tracks_learning_settings_but_not_run_settings() -> None:
    base = load_config("h2o_stand")
    assert config_hash(base) == config_hash(load_config("h2o_stand"))
    assert len(config_hash(base)) == 12
    same = load_config("h2o_stand", ["run.root=/elsewhere", "run.threads=2", "run.progress=false"])
    assert config_hash(same) == config_hash(base)
    changes = ("seed=1", "algo.beta=0.02", "loop.epochs=5", "env.sim_dynamics=real")
    later = ("algo.disc_residual_l2=0.5", "algo.disc_stale_weights=true")
    for change in (*changes, *later):
        assert config_hash(load_config("h2o_stand", [change])) != config_hash(base), change


@pytest.mark.parametrize(
    ("name", "other"), [("disc_residual_l2", 0.5), ("disc_stale_weights", True)]
)
def test_a_later_setting_at_its_neutral_value_keeps_earlier_fingerprints(
    name: str, other: object
) -> None:
    """Runs trained before a setting existed have configs without it: at its neutral value
    (what they computed) the fingerprint must be theirs, so finished experiment runs and
    checkpoints still match; any other value is another config."""
    assert name in LATER_ALGO_DEFAULTS
    base = config_to_dict(load_config("h2o_stand"))
    older = {
        **base,
        "algo": {k: v for k, v in base["algo"].items() if k not in LATER_ALGO_DEFAULTS},
        "env": {k: v for k, v in base["env"].items() if k not in LATER_ENV_DEFAULTS},
    }
    assert name in base["algo"]
    assert learning_dict(older) == learning_dict(base)
    # The fingerprint the code before the settings computed: sha256 of the dict without run.
    before = json.dumps({k: v for k, v in older.items() if k != "run"}, sort_keys=True,
                        separators=(",", ":"))  # fmt: skip
    assert config_hash(config_from_dict(base)) == hashlib.sha256(before.encode()).hexdigest()[:12]
    changed = {**base, "algo": {**base["algo"], name: other}}
    assert learning_dict(changed) != learning_dict(older)


def test_unknown_config_name_lists_where_it_looked() -> None:
    with pytest.raises(ConfigError, match="no_such_config"):
        load_config("no_such_config")


def test_export_name_defaults_to_task() -> None:
    assert load_config("h2o_stand").export_name == "stand.onnx"
    named = load_config("h2o_stand", ["run.export_name=my.onnx"])
    assert isinstance(named, TrainConfig) and named.export_name == "my.onnx"


def test_export_choice_defaults_to_best_and_bad_values_are_refused() -> None:
    assert TrainConfig("r", "sac").run.export == "best"
    assert load_config("h2o_stand").run.export == "best"
    assert load_config("h2o_stand", ["run.export=last"]).run.export == "last"
    for bad in ("first", "Best", "3", "null"):
        with pytest.raises(ConfigError, match=r"run\.export.*'best', 'last'"):
            load_config("h2o_stand", [f"run.export={bad}"])
    with pytest.raises(ConfigError, match=r"run\.export must be one of"):
        replace(load_config("h2o_stand").run, export="first")  # type: ignore[arg-type]


def test_command_range_is_fingerprinted_only_when_set() -> None:
    """Configs from before ``env.command_range`` existed keep their fingerprint (null is what
    they computed); a range is another run."""
    base = config_to_dict(load_config("h2o_stand"))
    assert base["env"]["command_range"] is None and "command_range" in LATER_ENV_DEFAULTS
    older = {**base, "env": {k: v for k, v in base["env"].items() if k != "command_range"}}
    assert learning_dict(older) == learning_dict(base)
    ranged = load_config(
        "h2o_stand", ["env.task=move_straight", "env.command_range={forward: [0, 0.5]}"]
    )
    assert ranged.env.command_range is not None and ranged.env.command_range.forward == (0, 0.5)
    plain = load_config("h2o_stand", ["env.task=move_straight"])
    assert config_hash(ranged) != config_hash(plain)
    assert config_from_dict(config_to_dict(ranged)) == ranged  # round trip through YAML data
