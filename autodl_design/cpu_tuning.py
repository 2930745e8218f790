"""MKL's AVX-512 (or AVX2) kernels on AMD CPUs, where it otherwise runs slow generic code.

Paddle 3.3.1's CPU convolution is im2col + ``sgemm`` from the MKL it bundles (``libmklml_intel``,
MKL 2019.0 Update 5), and its element-wise ops call MKL's VML. That MKL picks kernels by CPU
*vendor*: on a non-Intel CPU it ignores AVX2/AVX-512 and runs a generic path. The undocumented
``MKL_DEBUG_CPU_TYPE`` (MKL 2019 still honours it; 2020.1 and later dropped it) forces a path:

* ``5``: AVX2. On an AMD EPYC Zen 4 a 1024x1024 ``sgemm`` went from 33-37 to 88-92 GFLOPS.
* ``7``: AVX-512 as on Skylake-SP (F, CD, BW, DQ, VL). Measured on this project's AMD EPYC Zen 5
  (family 26), one thread, ``(128 x 1152) @ (1152 x 12544)``: 92 GFLOPS at ``5``, 172 at ``7``
  (PyTorch's matmul: 79); a 128-channel 3x3 conv on 7x7 maps ran its forward in 30 ms instead
  of 47. Used when the CPU reports all five of those AVX-512 subsets.
* ``6`` is *not* AVX-512 for these CPUs: its VML kernels execute an instruction Zen 4 and Zen 5
  lack (SIGILL in ``vsDiv``, seen on both), so it is never used.

MKL reads the variable once, when it initialises, which is Paddle's first MKL call of the
process: any op, even ``x + y`` (VML). :func:`apply` must therefore run before the process runs
its first Paddle op; setting it later has no effect. The package ``__init__`` calls it, so
importing ``autodl_design`` before Paddle runs anything is enough.

Switch: ``AUTODL_DESIGN_MKL_AVX2=0`` (config key ``mkl_avx2``, named when only AVX2 was used)
leaves MKL alone; a user's own ``MKL_DEBUG_CPU_TYPE`` is never overridden. On Intel CPUs nothing
is set (MKL already picks its best kernels there).
"""

from __future__ import annotations

import functools
import os
from collections.abc import MutableMapping
from pathlib import Path

SWITCH = "AUTODL_DESIGN_MKL_AVX2"
MKL_VARIABLE = "MKL_DEBUG_CPU_TYPE"
MKL_AVX2 = "5"
MKL_AVX512 = "7"
# The AVX-512 subsets of Skylake-SP, which MKL's type-7 kernels assume.
_AVX512_SKX = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
_OFF = {"0", "false", "no", "off"}
# Marks the value as set by :func:`apply` (inherited by child processes), so :func:`configure`
# removes only ours and never a user's own setting.
_OURS = "AUTODL_DESIGN_MKL_CPU_TYPE_SET"
# Vendors whose x86 CPUs MKL treats as generic even when they have AVX2 (Hygon is a Zen clone).
_NON_INTEL_VENDORS = {"AuthenticAMD", "HygonGenuine"}


def cpu_info(text: str | None = None) -> tuple[str, set[str]]:
    """Vendor id and feature flags of the first CPU in ``/proc/cpuinfo`` (or of ``text``)."""
    if text is None:
        text = _proc_cpuinfo()
    vendor, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if vendor and flags:
            break
    return vendor, flags


@functools.cache
def _proc_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: nothing to tune
        return ""


def wanted_cpu_type(vendor: str, flags: set[str]) -> str | None:
    """The ``MKL_DEBUG_CPU_TYPE`` to use on this CPU, or None to leave MKL alone."""
    if vendor not in _NON_INTEL_VENDORS:
        return None
    if flags >= _AVX512_SKX:
        return MKL_AVX512
    if {"avx2", "fma"} <= flags:
        return MKL_AVX2
    return None


def apply(
    environ: MutableMapping[str, str] | None = None, cpuinfo: str | None = None
) -> str | None:
    """Set ``MKL_DEBUG_CPU_TYPE`` for this CPU unless switched off or already set.

    Returns the value now in effect for MKL (the user's, ours, or None). Idempotent.
    """
    env = os.environ if environ is None else environ
    if MKL_VARIABLE in env:
        return env[MKL_VARIABLE]
    if env.get(SWITCH, "1").strip().lower() in _OFF:
        return None
    value = wanted_cpu_type(*cpu_info(cpuinfo))
    if value is not None:
        env[MKL_VARIABLE] = value
        env[_OURS] = value
    return value


def configure(
    enabled: bool, environ: MutableMapping[str, str] | None = None, cpuinfo: str | None = None
) -> str | None:
    """The config switch (``mkl_avx2``): keep the tuning, or undo it for this process and the
    processes it starts. Returns the ``MKL_DEBUG_CPU_TYPE`` now in effect.

    Call it before the process's first Paddle op (the CLI does, right after loading the config);
    later it cannot change what MKL already chose. A user's own ``MKL_DEBUG_CPU_TYPE`` is kept
    either way, and ``enabled`` cannot override ``AUTODL_DESIGN_MKL_AVX2=0``.
    """
    env = os.environ if environ is None else environ
    if enabled:
        return apply(env, cpuinfo)
    if _OURS in env and env.get(MKL_VARIABLE) == env[_OURS]:
        del env[MKL_VARIABLE]
    env.pop(_OURS, None)
    env[SWITCH] = "0"
    return env.get(MKL_VARIABLE)
