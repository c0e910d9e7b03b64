"""Whether this CPU runs bfloat16 matmuls natively (``disc_precision: bfloat16`` pays only
then).

Without AVX512-BF16 or AMX, PyTorch's CPU bf16 matmul falls back to a converting kernel:
measured on a 2-core AVX2 VM, a 512x256 @ 256x256 linear took 8.9 ms in bf16 against 0.78 ms
in float32 (11x slower), and the bf16 H2O step 6x slower than float32's.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
# x86 flags of the instructions oneDNN uses for bf16 matmuls.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def native_bf16(cpuinfo: str | None = None) -> bool | None:
    """True if the CPU has bf16 matmul instructions, False if it has none, None if unknown
    (no ``/proc/cpuinfo``: not Linux). ``cpuinfo``: the text to read (default: this CPU)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return None
    flags = cpu_flags(cpuinfo)
    if not flags:
        return None
    return bool(flags & BF16_FLAGS)


def warn_if_slow_bf16(precision: str, device: torch.device) -> None:
    """A RuntimeWarning when bfloat16 matmuls are asked for on a CPU known to lack them."""
    if precision == "bfloat16" and device.type == "cpu" and native_bf16() is False:
        warnings.warn(
            "disc_precision: bfloat16 on a CPU without bf16 matmul instructions (no "
            "avx512_bf16 or amx_bf16 in /proc/cpuinfo): the discriminators' matmuls run about "
            "10x slower than in float32 here; use disc_precision: float32",
            RuntimeWarning,
            stacklevel=3,
        )
