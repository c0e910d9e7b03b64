"""The algorithm registry: every algorithm's facts in one place, consistent with what the
algorithm does, and read by the tools instead of restated."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from h2o_learning.algorithms import (
    ALGORITHMS,
    ActorCritic,
    AlgorithmConfig,
    AlgorithmError,
    AlgorithmInfo,
    algorithm_info,
    make_algorithm,
)
from h2o_learning.training.config import load_config
from h2o_learning.training.sampling import sample_batches
from h2o_robot_bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]
TINY = AlgorithmConfig(
    hidden=(8, 8), disc_hidden=(8, 8), batch_size=16, disc_batch_size=8, n_next_samples=2
)


def test_names_labels_and_order() -> None:
    assert list(ALGORITHMS) == ["sac", "cql", "darc", "darc_plus", "h2o"]
    assert {n: i.label for n, i in ALGORITHMS.items()} == {
        "sac": "SAC",
        "cql": "CQL",
        "darc": "DARC",
        "darc_plus": "DARC+",
        "h2o": "H2O",
    }
    assert {n: i.long_label for n, i in ALGORITHMS.items()} == {
        "sac": "SAC (sim only)",
        "cql": "CQL (real only)",
        "darc": "DARC",
        "darc_plus": "DARC+",
        "h2o": "H2O",
    }
    with pytest.raises(TypeError):
        ALGORITHMS["ppo"] = ALGORITHMS["sac"]  # type: ignore[index]


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_facts_are_the_class_and_its_training_config(name: str) -> None:
    info = algorithm_info(name)
    assert isinstance(info, AlgorithmInfo) and issubclass(info.cls, ActorCritic)
    assert (info.name, info.uses_real, info.uses_sim) == (
        info.cls.name,
        info.cls.uses_real,
        info.cls.uses_sim,
    )
    assert info.uses_real or info.uses_sim
    algo = make_algorithm(name, 5, 2, load_config(info.train_config).algo)
    assert type(algo) is info.cls and algo.name == name
    assert (ROOT / "config" / "train" / f"{info.train_config}.yaml").is_file()
    assert load_config(info.train_config).algorithm == name


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_facts_match_what_the_algorithm_samples_and_needs(name: str, buffers: tuple) -> None:
    info, algo = algorithm_info(name), make_algorithm(name, 5, 2, TINY)
    (n_real, n_sim), n_disc = algo.batch_sizes(), algo.disc_batch_size()
    assert info.uses_real == (n_real > 0 or n_disc > 0)
    assert info.uses_sim == (n_sim > 0 or n_disc > 0)
    # The trainer builds only the buffers the facts name: enough for an update ...
    real, sim = buffers
    gen = torch.Generator().manual_seed(0)
    given = (real if info.uses_real else None, sim if info.uses_sim else None)
    metrics = algo.update(*sample_batches(algo, *given, gen))
    assert metrics and all(math.isfinite(v) for v in metrics.values())
    # ... and each of them is needed.
    if info.uses_real:
        with pytest.raises(AlgorithmError, match="real replay buffer"):
            sample_batches(algo, None, sim, gen)
    if info.uses_sim:
        with pytest.raises(AlgorithmError, match="sim replay buffer"):
            sample_batches(algo, real, None, gen)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown algorithm 'ppo'.*'darc_plus'.*'sac'"):
        algorithm_info("ppo")
