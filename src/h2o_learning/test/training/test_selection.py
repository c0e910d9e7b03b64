"""Model selection: the best-so-far rule, the export decision and its reason, export.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from h2o_learning.training.metrics_log import REAL_RETURN
from h2o_learning.training.selection import (
    Criterion,
    ExportRecord,
    Scored,
    best_from_payload,
    best_payload,
    decide,
    improves,
    read_record,
    write_record,
)
from h2o_robot_bridge.errors import ConfigError

CRITERION = Criterion(REAL_RETURN, "real", (11, 22, 33, 44, 55))


def test_a_higher_value_improves_a_tie_or_nan_does_not() -> None:
    assert improves(-5.0, None)
    assert improves(2.0, Scored(3, 1.0))
    assert not improves(1.0, Scored(3, 1.0))  # a tie keeps the earlier epoch
    assert not improves(0.5, Scored(3, 1.0))
    assert not improves(math.nan, None) and not improves(math.nan, Scored(3, 1.0))


def test_best_before_the_last_epoch() -> None:
    record = decide("best", CRITERION, Scored(7, 1134.94), 12, 402.13, "stand.onnx")
    assert (record.exported, record.epoch, record.value) == ("best", 7, 1134.94)
    assert (record.last_epoch, record.last_value) == (12, 402.13)
    assert (record.policy, record.source) == ("stand.onnx", "best_stand.onnx")
    assert record.eval_episodes == 5 and record.eval_seeds == (11, 22, 33, 44, 55)
    assert record.reason == (
        "best: epoch 7 of 12 had the highest real return 1134.9 over 5 runner episodes "
        "(last epoch: 402.1)"
    )


def test_best_at_the_last_epoch() -> None:
    record = decide("best", CRITERION, Scored(12, 10.0), 12, 10.0, "stand.onnx")
    assert record.exported == "best" and record.epoch == 12
    assert record.reason.endswith("over 5 runner episodes (the last)")


def test_best_without_any_evaluation_exports_the_last_and_says_so() -> None:
    record = decide("best", CRITERION, None, 3, None, "stand.onnx")
    assert (record.requested, record.exported, record.epoch, record.value) == (
        "best",
        "last",
        3,
        None,
    )
    assert record.source == "last_stand.onnx" and record.best_epoch is None
    assert record.reason.startswith("last: best was asked, but no evaluation gave a real return")
    assert record.reason.endswith("exported the last epoch, 3")


def test_last_when_asked_names_the_best_it_passed_over() -> None:
    record = decide("last", CRITERION, Scored(7, 1134.94), 12, 402.13, "stand.onnx")
    assert (record.exported, record.epoch, record.value) == ("last", 12, 402.13)
    assert (record.best_epoch, record.best_value) == (7, 1134.94)
    assert record.source == "last_stand.onnx"
    assert record.reason == (
        "last: run.export is 'last': epoch 12 (real return 402.1; best: epoch 7, 1134.9)"
    )
    unevaluated = decide("last", CRITERION, None, 4, None, "stand.onnx")
    assert "not evaluated; best: none evaluated" in unevaluated.reason


def test_one_episode_is_singular() -> None:
    one = Criterion(REAL_RETURN, "real", (1,))
    assert "over 1 runner episode (" in decide("best", one, Scored(1, 2.0), 1, 2.0, "x").reason


def test_record_round_trips_through_export_json(tmp_path: Path) -> None:
    record = decide("best", CRITERION, Scored(7, 1134.94), 12, 402.13, "stand.onnx")
    path = write_record(tmp_path / "export.json", record)
    assert read_record(path) == record
    assert json.loads(path.read_text())["eval_seeds"] == [11, 22, 33, 44, 55]
    data = record.to_dict()
    data["extra_key"] = 1
    with pytest.raises(ConfigError, match="extra_key"):
        ExportRecord.from_dict(data)


def test_best_checkpoint_payload_is_read_back_for_its_own_metric_only() -> None:
    payload = {"epoch": 7, "selection": best_payload(Scored(7, 3.5), REAL_RETURN)}
    assert best_from_payload(payload, REAL_RETURN) == Scored(7, 3.5)
    assert best_from_payload(payload, "eval_sim/return_mean") is None
    assert best_from_payload({"epoch": 7}, REAL_RETURN) is None
