"""Drawing one update's batches from the replay buffers, in the sizes the algorithm states.

The algorithm only states sizes (:meth:`~h2o_learning.algorithms.protocol.Algorithm.batch_sizes`
and :meth:`~h2o_learning.algorithms.protocol.Algorithm.disc_batch_size`); the trainer owns the
buffers and draws, from one generator and always in this order: the real critic batch, the sim
critic batch, then the discriminators' fresh real and sim batches. The order is part of a
run's random stream (bit-for-bit resume relies on it).

>>> algo.update(*sample_batches(algo, real_buffer, sim_buffer, generator))
"""

from __future__ import annotations

import torch

from h2o_learning.algorithms.base import AlgorithmError
from h2o_learning.algorithms.protocol import Algorithm, Batch, UpdateBatches
from h2o_learning.training.buffers import ReplayBuffer


def sample_batches(
    algo: Algorithm,
    real_buffer: ReplayBuffer | None,
    sim_buffer: ReplayBuffer | None,
    generator: torch.Generator,
) -> UpdateBatches:
    """The batches ``algo`` asks for, drawn uniformly with replacement using ``generator``
    only (order: real, sim, disc_real, disc_sim): ``algo.update(*sample_batches(...))``.

    Raises:
        AlgorithmError: a buffer the algorithm needs is None.
    """
    n_real, n_sim = algo.batch_sizes()
    n_disc = algo.disc_batch_size()
    real = _draw(real_buffer, n_real, "a real replay buffer", algo, generator)
    sim = _draw(sim_buffer, n_sim, "a sim replay buffer", algo, generator)
    disc_real = _draw(real_buffer, n_disc, "a real replay buffer", algo, generator)
    disc_sim = _draw(sim_buffer, n_disc, "a sim replay buffer", algo, generator)
    return UpdateBatches(real, sim, disc_real, disc_sim)


def _draw(
    buffer: ReplayBuffer | None,
    n: int,
    what: str,
    algo: Algorithm,
    generator: torch.Generator,
) -> Batch | None:
    if not n:
        return None
    if buffer is None:
        raise AlgorithmError(f"{algo.name} needs {what}")
    return buffer.sample(n, generator)
