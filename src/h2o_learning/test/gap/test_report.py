"""``h2o-gap report``: its numbers equal hand-computed ones, H2O's u and w beside them, and bad
input is one clear error line."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from h2o_learning.algorithms.protocol import Batch
from h2o_learning.gap.cli import main
from h2o_learning.gap.discriminator import h2o_from_checkpoint
from h2o_learning.gap.metrics import PREDICTED_DIMS, PREDICTED_NAMES
from h2o_learning.gap.replay import Replayer
from h2o_learning.testing.budgets import TINY_TRAIN
from h2o_learning.training.cli import train_main
from h2o_robot_bridge.dataset import Dataset, load_dataset, save_dataset
from h2o_robot_bridge.dataset.io import META_ATTR

TINY_ROWS = [10, 50, 120, 200, 333]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny(gentle: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five transitions of the gentle dataset, each its own episode (a timeout after it)."""
    rows = TINY_ROWS
    data = gentle._replace(
        **{k: getattr(gentle, k)[rows] for k in ("observations", "actions", "rewards")},
        next_observations=gentle.next_observations[rows],
        terminals=np.zeros(len(rows), bool),
        timeouts=np.ones(len(rows), bool),
    )
    return save_dataset(tmp_path_factory.mktemp("tiny") / "tiny.h5", data)


def test_report_numbers_equal_hand_computed_ones(tiny: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert (
        main(["report", "--dataset", str(tiny), "--dynamics", "gravity_x2", "-o", str(out), "-q"])
        == 0
    )
    data = load_dataset(tiny)
    with Replayer("gravity_x2", "stand") as rep:
        pred = rep.predict(data)
    n, tol = data.size, 0.5
    per_dim = {r["element"]: r for r in read_csv(out / "per_dimension.csv")}
    worst = [0.0] * n
    for name, d in zip(PREDICTED_NAMES, PREDICTED_DIMS, strict=True):
        err = [float(pred[i, d]) - float(data.next_observations[i, d]) for i in range(n)]
        change = [
            float(data.next_observations[i, d]) - float(data.observations[i, d]) for i in range(n)
        ]
        rmse = math.sqrt(sum(e * e for e in err) / n)
        scale = max(math.sqrt(sum(c * c for c in change) / n), 1e-6)
        row = per_dim[name]
        assert float(row["rmse"]) == pytest.approx(rmse, rel=1e-5, abs=1e-12)
        assert float(row["rms_real_change"]) == pytest.approx(scale, rel=1e-5)
        assert float(row["nrmse"]) == pytest.approx(rmse / scale, rel=1e-5, abs=1e-12)
        worst = [max(w, abs(e) / scale) for w, e in zip(worst, err, strict=True)]
    rows = read_csv(out / "transitions.csv")
    assert [int(r["row"]) for r in rows] == list(range(n))
    assert [float(r["score"]) for r in rows] == pytest.approx(worst, rel=1e-5)
    within = [w <= tol for w in worst]
    assert [r["within"] == "True" for r in rows] == within
    share = 100 * sum(within) / n
    summary = (out / "summary.md").read_text()
    assert f"**{share:.1f} % of the transitions are predicted within tolerance**" in summary
    assert f"{share:.1f} % of {n} transitions" in capsys.readouterr().out
    for variable in ("tilt_deg", "forward_vel", "command.forward_vel"):
        bins = [r for r in read_csv(out / "regions.csv") if r["variable"] == variable]
        assert sum(int(r["n"]) for r in bins) == n
    for png in ("gap_per_dimension.png", "gap_regions.png"):
        assert (out / png).stat().st_size > 1000


def test_report_of_the_true_profile_is_better(gentle_path: Path, tmp_path: Path) -> None:
    shares = {}
    for profile in ("real", "gravity_x2"):
        out = tmp_path / profile
        args = ["report", "--dataset", str(gentle_path), "--dynamics", profile, "-o", str(out)]
        assert main([*args, "-q"]) == 0
        rows = read_csv(out / "transitions.csv")
        shares[profile] = np.mean([r["within"] == "True" for r in rows])
    assert shares["real"] > 0.95 > 0.05 > shares["gravity_x2"], shares


@pytest.fixture(scope="module")
def runs(gentle_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny H2O and SAC training runs on the gentle dataset (a checkpoint each)."""
    folder = tmp_path_factory.mktemp("runs")
    out = {}
    for algorithm in ("h2o", "sac"):
        run = folder / algorithm
        args = ["--config", "smoke_h2o", "--run-dir", str(run), "--no-export"]
        for item in [*TINY_TRAIN, f"algorithm={algorithm}", f"data.path={gentle_path}"]:
            args += ["--set", item]
        assert train_main(args) == 0
        out[algorithm] = run
    return out


def test_report_shows_h2o_weights_beside_the_gap(
    tiny: Path, runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r"
    args = ["report", "--dataset", str(tiny), "--checkpoint", str(runs["h2o"]), "-o", str(out)]
    assert main([*args, "-q"]) == 0
    rows = read_csv(out / "transitions.csv")
    data = load_dataset(tiny)
    with Replayer("real", "stand") as rep:
        pred = rep.predict(data)
    algo = h2o_from_checkpoint(runs["h2o"])
    t = [torch.as_tensor(x, dtype=torch.float32) for x in (data.observations, data.actions, pred)]
    zeros = torch.zeros(data.size)
    terms = algo.gap_terms(Batch(t[0], t[1], zeros, t[2], zeros))
    # w and log ratio depend only on the observed sim s' (u on random perturbations of it).
    assert [float(r["h2o_w"]) for r in rows] == pytest.approx(terms.weight.tolist(), rel=1e-5)
    got = [float(r["h2o_log_ratio"]) for r in rows]
    assert got == pytest.approx(terms.log_ratio.tolist(), rel=1e-5)
    assert len(set(got)) == len(got)  # one value per transition, in row order
    assert all(float(r["h2o_u"]) > 0 for r in rows)
    summary = (out / "summary.md").read_text()
    assert re.search(r"Spearman\(score, u\) = (-?\d\.\d\d|nan)", summary)  # nan: u constant
    assert (out / "h2o_vs_replay.png").is_file()


def write_bad_obs_dim(path: Path, good: Path) -> Path:
    with h5py.File(good) as src, h5py.File(path, "w") as f:
        for key in src:
            value = src[key][()]
            if key in ("observations", "next_observations"):
                value = value[:, :-1]
            f.create_dataset(key, data=value)
        f.attrs[META_ATTR] = src.attrs[META_ATTR]
    return path


def write_other_contract(path: Path, good: Path) -> Path:
    with h5py.File(good) as src, h5py.File(path, "w") as f:
        for key in src:
            f.create_dataset(key, data=src[key][()])
        meta = json.loads(src.attrs[META_ATTR])
        meta["contract_version"] = "someone-elses-robot/7"
        f.attrs[META_ATTR] = json.dumps(meta)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "not found"),
        ("obs_dim", "observations"),
        ("contract", "contract"),
        ("profile", "unknown dynamics profile 'nope'"),
        ("set_knob", "unknown dynamics"),
        ("config", "tolerance must be > 0"),
        ("sac", "only an h2o run"),
        ("cal_knob", "unknown dynamics knob 'wobble'"),
        ("cal_random_knob", "cannot be calibrated by one-tick replay"),
        ("cal_start", "unknown dynamics profile 'nope'"),
        ("cal_budget", "--budget must be >= 2"),
    ],
)
def test_bad_input_is_one_clear_error(
    case: str, message: str, tiny: Path, runs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = ["-o", str(tmp_path / "out"), "-q"]
    report = ["report", "--dataset", str(tiny)]
    cal = ["calibrate", "--dataset", str(tiny), "--knobs", "gravity"]
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("tolerance: -1\n")
    argv = {
        "missing": ["report", "--dataset", str(tmp_path / "nothing.h5")],
        "obs_dim": ["report", "--dataset", str(write_bad_obs_dim(tmp_path / "b.h5", tiny))],
        "contract": ["report", "--dataset", str(write_other_contract(tmp_path / "c.h5", tiny))],
        "profile": [*report, "--dynamics", "nope"],
        "set_knob": [*report, "--set", "wobble=1"],
        "config": [*report, "--config", str(bad_config)],
        "sac": [*report, "--checkpoint", str(runs["sac"])],
        "cal_knob": ["calibrate", "--dataset", str(tiny), "--knobs", "gravity,wobble"],
        "cal_random_knob": ["calibrate", "--dataset", str(tiny), "--knobs", "sensor_noise_std"],
        "cal_start": [*cal, "--start", "nope"],
        "cal_budget": [*cal, "--budget", "1"],
    }[case]
    assert main([*argv, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("h2o-gap: error:") and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "summary.md").exists()
