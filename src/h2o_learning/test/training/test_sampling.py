"""Batch sampling on the training side: the sizes each algorithm states, one generator, a fixed
draw order (real, sim, disc_real, disc_sim), clear errors for a missing buffer."""

from __future__ import annotations

import pytest
import torch

from h2o_learning.algorithms import AlgorithmConfig, AlgorithmError, make_algorithm
from h2o_learning.algorithms.protocol import UpdateBatches
from h2o_learning.training.sampling import sample_batches

TINY = AlgorithmConfig(hidden=(8, 8), disc_hidden=(8, 8), batch_size=32, disc_batch_size=32)


def test_sample_batches_sizes(buffers: tuple) -> None:
    real, sim = buffers
    gen = torch.Generator()
    h2o = sample_batches(make_algorithm("h2o", 5, 2, TINY), real, sim, gen)
    assert (len(h2o.real.obs), len(h2o.sim.obs), len(h2o.disc_real.obs)) == (16, 16, 32)
    sac = sample_batches(make_algorithm("sac", 5, 2, TINY), None, sim, gen)
    assert sac.real is None and len(sac.sim.obs) == 32
    assert sac.disc_real is None and sac.disc_sim is None
    darc = sample_batches(make_algorithm("darc", 5, 2, TINY), real, sim, gen)
    assert darc.real is None and len(darc.disc_real.obs) == 32


@pytest.mark.parametrize("name", ["h2o", "darc_plus", "cql"])
def test_draw_order_is_real_sim_disc_real_disc_sim(name: str, buffers: tuple) -> None:
    real, sim = buffers
    algo = make_algorithm(name, 5, 2, TINY)
    got = sample_batches(algo, real, sim, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    (n_real, n_sim), n_disc = algo.batch_sizes(), algo.disc_batch_size()
    want = UpdateBatches(
        real.sample(n_real, gen) if n_real else None,
        sim.sample(n_sim, gen) if n_sim else None,
        real.sample(n_disc, gen) if n_disc else None,
        sim.sample(n_disc, gen) if n_disc else None,
    )
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            for x, y in zip(g, w, strict=True):
                assert torch.equal(x, y)


def test_missing_buffer_names_the_algorithm_and_the_buffer(buffers: tuple) -> None:
    real, sim = buffers
    gen = torch.Generator()
    with pytest.raises(AlgorithmError, match="cql needs a real replay buffer"):
        sample_batches(make_algorithm("cql", 5, 2, TINY), None, sim, gen)
    with pytest.raises(AlgorithmError, match="darc needs a real replay buffer"):
        sample_batches(make_algorithm("darc", 5, 2, TINY), None, sim, gen)  # discriminators
    with pytest.raises(AlgorithmError, match="sac needs a sim replay buffer"):
        sample_batches(make_algorithm("sac", 5, 2, TINY), real, None, gen)
