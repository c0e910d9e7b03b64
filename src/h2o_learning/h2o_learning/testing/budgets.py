"""Training budgets small enough for tests (seconds per run)."""

TINY_TRAIN: tuple[str, ...] = (
    "loop.epochs=1",
    "loop.sim_steps_per_epoch=40",
    "loop.grad_steps_per_epoch=5",
    "loop.warmup_steps=20",
    "loop.eval_max_steps=20",
    "algo.batch_size=16",
    "algo.disc_batch_size=16",
    "algo.hidden=[16, 16]",
    "algo.disc_hidden=[16, 16]",
    "run.tensorboard=false",
)
"""``--set`` overrides on top of ``smoke_h2o``: one epoch of 40 sim and 5 gradient steps."""
