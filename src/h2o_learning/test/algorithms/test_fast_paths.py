"""H2O's speed switches: ``disc_overlap`` is bitwise the serial step; ``disc_precision:
bfloat16`` stays within a stated tolerance of float32 and still learns the bandit's real
optimum; both are validated config values."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

from h2o_learning.algorithms import AlgorithmConfig, make_algorithm
from h2o_learning.algorithms.precision import cpu_flags, native_bf16
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.testing.toy_tasks import (
    BANDIT,
    BANDIT_OBS_STD,
    REAL_GAIN,
    SIM_GAIN,
    bandit,
    policy_slope,
)
from h2o_learning.training.config import TrainConfig, config_from_dict, config_to_dict
from h2o_learning.training.sampling import sample_batches
from h2o_robot_bridge.errors import ConfigError

TINY = AlgorithmConfig(
    hidden=(32, 32), disc_hidden=(32, 32), batch_size=32, disc_batch_size=32, n_next_samples=4
)
# bfloat16 keeps 8 mantissa bits: the classifiers' logits (in [-2, 2]) move by ~3e-3 at these
# sizes (measured: <= 2.6e-3 here and at the robot's 256-256); the bounds leave ~4x margin.
BF16_LOGIT_ATOL = 1e-2
BF16_LOSS_ATOL = 1e-2


def with_(config: AlgorithmConfig, **switches: object) -> AlgorithmConfig:
    return dataclasses.replace(config, **switches)


def state(algo) -> list[torch.Tensor]:  # noqa: ANN001
    return [t.detach().clone() for t in algo.modules.state_dict().values()]


def run_both(a, b, buffers: tuple, steps: int) -> tuple[list, list]:  # noqa: ANN001
    """``steps`` updates of a and b on the same batches; their diagnostics per step."""
    real, sim = buffers
    gen = torch.Generator().manual_seed(0)
    out_a, out_b = [], []
    for _ in range(steps):
        batches = sample_batches(a, real, sim, gen)
        out_a.append(a.update(*batches))
        out_b.append(b.update(*batches))
    return out_a, out_b


# -- disc_overlap: exact ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["joint", "sequential"])
@pytest.mark.parametrize(("noise", "train_steps"), [(0.1, 0), (0.0, 0), (0.1, 2)])
def test_overlap_is_bitwise_the_serial_step(
    order: str, noise: float, train_steps: int, buffers: tuple
) -> None:
    # train_steps 2 of 3: the last step's discriminators are frozen (disc_train_steps).
    config = with_(TINY, update_order=order, disc_noise_std=noise, disc_train_steps=train_steps)
    serial = make_algorithm("h2o", 5, 2, config, seed=1)
    overlap = make_algorithm("h2o", 5, 2, with_(config, disc_overlap=True), seed=1)
    stats_s, stats_o = run_both(serial, overlap, buffers, 3)
    assert stats_s == stats_o  # every loss and diagnostic, bitwise
    for x, y in zip(state(serial), state(overlap), strict=True):
        assert torch.equal(x, y)
    assert torch.equal(serial.generator.get_state(), overlap.generator.get_state())


@pytest.mark.parametrize("stale", [False, True])
def test_overlap_in_a_seed_stack_is_bitwise_the_serial_stack(stale: bool, buffers: tuple) -> None:
    real, sim = buffers
    config = with_(TINY, disc_stale_weights=stale)
    serial = SeedStack("h2o", 5, 2, config, (1, 2))
    overlap = SeedStack("h2o", 5, 2, with_(config, disc_overlap=True), (1, 2))
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    for _ in range(2):
        batches = [
            sample_batches(m, real, sim, g) for m, g in zip(serial.members, gens, strict=True)
        ]
        assert serial.update(batches) == overlap.update(batches)


def test_overlap_thread_errors_reach_the_caller(buffers: tuple, monkeypatch) -> None:  # noqa: ANN001
    algo = make_algorithm("h2o", 5, 2, with_(TINY, disc_overlap=True))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr(algo.discriminators, "loss", broken)
    real, sim = buffers
    with pytest.raises(RuntimeError, match="classifier exploded"):
        algo.update(*sample_batches(algo, real, sim, torch.Generator().manual_seed(0)))


# -- disc_stale_weights: one discriminator step of lag, overlapped exactly ------------------


@pytest.mark.parametrize("noise", [0.1, 0.0])
def test_stale_weights_come_from_the_discriminators_before_their_step(
    noise: float, buffers: tuple
) -> None:
    """Step 1's log ratio, w and u with the switch equal those of the untouched initial
    discriminators on the same sim batch and noise; without it they come from updated ones."""
    real, sim = buffers
    config = with_(TINY, disc_noise_std=noise)
    stale = make_algorithm("h2o", 5, 2, with_(config, disc_stale_weights=True), seed=3)
    plain = make_algorithm("h2o", 5, 2, config, seed=3)
    before = make_algorithm("h2o", 5, 2, config, seed=3)  # never updated
    batches = sample_batches(stale, real, sim, torch.Generator().manual_seed(0))
    _, _, expected = before.dynamics_weights(batches.sim)
    got_stale, got_plain = stale.update(*batches), plain.update(*batches)
    for key in ("log_ratio_mean", "weight_mean", "u_mean"):
        assert got_stale[key] == float(expected[key]), key
    # (w is clipped at 1 and may agree; the log ratio under it does not)
    assert got_plain["log_ratio_mean"] != got_stale["log_ratio_mean"]
    # the discriminator step still runs in the same update and reports its diagnostics
    assert {"disc_sa_loss", "disc_sas_loss", "disc_sa_acc"} <= set(got_stale)


@pytest.mark.parametrize("order", ["joint", "sequential"])
@pytest.mark.parametrize("noise", [0.1, 0.0])
def test_stale_overlap_is_bitwise_the_stale_serial_step(
    order: str, noise: float, buffers: tuple
) -> None:
    config = with_(TINY, update_order=order, disc_noise_std=noise, disc_stale_weights=True)
    serial = make_algorithm("h2o", 5, 2, config, seed=1)
    overlap = make_algorithm("h2o", 5, 2, with_(config, disc_overlap=True), seed=1)
    stats_s, stats_o = run_both(serial, overlap, buffers, 3)
    assert stats_s == stats_o  # every loss and diagnostic, bitwise
    for x, y in zip(state(serial), state(overlap), strict=True):
        assert torch.equal(x, y)  # the discriminator step was joined before update returned
    assert torch.equal(serial.generator.get_state(), overlap.generator.get_state())


def test_stale_overlap_errors_reach_the_caller_and_the_next_step_runs(
    buffers: tuple, monkeypatch
) -> None:  # noqa: ANN001
    """A discriminator step that fails on the second thread fails ``update`` (after the
    critic step), leaves nothing running, and a later step works again."""
    algo = make_algorithm("h2o", 5, 2, with_(TINY, disc_overlap=True, disc_stale_weights=True))
    real, sim = buffers
    gen = torch.Generator().manual_seed(0)
    healthy = algo.discriminators.loss

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr(algo.discriminators, "loss", broken)
    with pytest.raises(RuntimeError, match="classifier exploded"):
        algo.update(*sample_batches(algo, real, sim, gen))
    assert algo._disc_step is None
    monkeypatch.setattr(algo.discriminators, "loss", healthy)
    stats = algo.update(*sample_batches(algo, real, sim, gen))
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())


# -- disc_precision: bfloat16, an approximation within tolerance -----------------------------


def test_bf16_classifiers_stay_within_tolerance_of_float32(buffers: tuple) -> None:
    """Same weights, batch and noise: logits, discriminator losses and the importance
    weights of the bf16 path within the stated bounds of float32's."""
    real, sim = buffers
    fp32 = make_algorithm("h2o", 5, 2, TINY, seed=2)
    bf16 = make_algorithm("h2o", 5, 2, with_(TINY, disc_precision="bfloat16"), seed=2)
    bf16.load_state_dict(fp32.state_dict())
    batch = sample_batches(fp32, real, sim, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for z32, z16 in zip(
            fp32.discriminators.logits(batch.sim.obs, batch.sim.action, batch.sim.next_obs),
            bf16.discriminators.logits(batch.sim.obs, batch.sim.action, batch.sim.next_obs),
            strict=True,
        ):
            assert z16.dtype == torch.float32
            torch.testing.assert_close(z16, z32, rtol=0, atol=BF16_LOGIT_ATOL)
            assert not torch.equal(z16, z32)  # the switch does change the arithmetic
    gen = torch.Generator().manual_seed(3)
    loss32 = fp32.discriminators.loss(batch.real, batch.sim, 0.1, gen.clone_state())
    loss16 = bf16.discriminators.loss(batch.real, batch.sim, 0.1, gen.clone_state())
    for a, b in zip(loss32[:2], loss16[:2], strict=True):
        assert float(b.detach()) == pytest.approx(float(a.detach()), abs=BF16_LOSS_ATOL)
    w32, _, _ = fp32.dynamics_weights(batch.sim, gen.clone_state())
    w16, _, _ = bf16.dynamics_weights(batch.sim, gen.clone_state())
    # w = clip(exp(z0 - z1)): a logit error e moves log w by at most 2e
    torch.testing.assert_close(w16.log(), w32.log(), rtol=0, atol=2 * BF16_LOGIT_ATOL)


def test_bf16_updates_stay_close_to_float32_over_several_steps(buffers: tuple) -> None:
    fp32 = make_algorithm("h2o", 5, 2, TINY, seed=4)
    bf16 = make_algorithm("h2o", 5, 2, with_(TINY, disc_precision="bfloat16"), seed=4)
    stats32, stats16 = run_both(fp32, bf16, buffers, 5)
    for s32, s16 in zip(stats32, stats16, strict=True):
        for key in ("disc_sa_loss", "disc_sas_loss", "critic_loss", "actor_loss", "weight_mean"):
            assert s16[key] == pytest.approx(s32[key], rel=2e-2, abs=BF16_LOSS_ATOL), key
    assert stats32 != stats16


@pytest.mark.parametrize(
    "switches",
    [
        {"disc_precision": "bfloat16"},
        {"disc_stale_weights": True, "disc_overlap": True},
        {"disc_precision": "bfloat16", "disc_stale_weights": True, "disc_overlap": True},
    ],
    ids=["bf16", "stale", "bf16-stale"],
)
def test_fast_path_h2o_still_reaches_the_real_optimum(switches: dict) -> None:
    """The learning check in small (bench/fast_path_learning.py has the curves): with
    bfloat16 classifiers, with one discriminator step of lag, or both, H2O still finds the real
    optimum a* = -s/2 despite the sim gap."""
    config = with_(BANDIT, **switches)
    algo = make_algorithm("h2o", 1, 1, config, obs_std=BANDIT_OBS_STD, seed=0)
    real, sim = bandit(2000, REAL_GAIN, 0), bandit(2000, SIM_GAIN, 1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(500):
        algo.update(*sample_batches(algo, real, sim, gen))
    assert policy_slope(algo) == pytest.approx(-0.5, abs=0.12)


AVX2_CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
BF16_CPUINFO = AVX2_CPUINFO.replace("fma", "fma avx512f avx512_bf16")


def test_native_bf16_reads_the_cpu_flags() -> None:
    assert cpu_flags(AVX2_CPUINFO) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert native_bf16(AVX2_CPUINFO) is False
    assert native_bf16(BF16_CPUINFO) is True
    assert native_bf16(AVX2_CPUINFO.replace("fma", "fma amx_bf16 amx_tile")) is True
    assert native_bf16("no flags line here") is None


def test_bf16_on_a_cpu_without_bf16_instructions_warns() -> None:
    """This machine's own flags decide: a warning where bf16 would be ~10x slower, none
    where it is native, and never for float32."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_algorithm("h2o", 5, 2, with_(TINY, disc_precision="bfloat16"))
        make_algorithm("h2o", 5, 2, TINY)
    slow = [w for w in caught if "without bf16 matmul instructions" in str(w.message)]
    assert len(slow) == (1 if native_bf16() is False else 0)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"disc_precision": "float16"}, "disc_precision must be one of"),
        ({"disc_precision": None}, "disc_precision"),
        ({"disc_overlap": "yes"}, "disc_overlap must be true or false"),
        ({"disc_overlap": 1}, "disc_overlap must be true or false"),
        ({"disc_stale_weights": "no"}, "disc_stale_weights must be true or false"),
    ],
)
def test_speed_switches_reject_bad_values(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AlgorithmConfig.from_dict(values)


def test_speed_switches_in_a_training_config() -> None:
    """The YAML path (training config schema): accepted, round-tripped, and a bad value
    fails with the dotted key's message."""
    base = config_to_dict(TrainConfig(name="t", algorithm="h2o"))
    base["algo"].update(disc_precision="bfloat16", disc_overlap=True)
    config = config_from_dict(base)
    assert (config.algo.disc_precision, config.algo.disc_overlap) == ("bfloat16", True)
    assert config_from_dict(config_to_dict(config)) == config
    base["algo"]["disc_precision"] = "fp8"
    with pytest.raises(ConfigError, match="disc_precision"):
        config_from_dict(base)
