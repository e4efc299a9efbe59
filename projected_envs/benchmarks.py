"""Deprecated module path: :mod:`projected_envs.benchmark_registry` (machinery) and
:mod:`projected_envs.shipped_benchmarks` (definitions).

``projected_envs.benchmarks`` is the public *function* :func:`projected_envs.benchmarks`, which
hides a module of that name, so the module was split and renamed. This shim keeps old code
working: ``importlib.import_module("projected_envs.benchmarks")`` (or ``from
projected_envs.benchmarks import X``) returns it, and every attribute the old module had
resolves to its new home with a ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
from typing import Any

from projected_envs._deprecation import warn_renamed

# Where each public name of the old module lives now.
_MOVED = {
    "Benchmark": "projected_envs.benchmark_registry",
    "benchmark": "projected_envs.benchmark_registry",
    "benchmarks": "projected_envs.benchmark_registry",
    "make_benchmark": "projected_envs.benchmark_registry",
    "register_benchmark": "projected_envs.benchmark_registry",
    "_BENCHMARKS": "projected_envs.benchmark_registry",
    "_cached_benchmark": "projected_envs.benchmark_registry",
    "TaskBank": "projected_envs.tasks",
    "TaskSet": "projected_envs.tasks",
    "allocate": "projected_envs.tasks",
    "BRAX_OOD": "projected_envs.shipped_benchmarks",
    "BRAX_TRAIN": "projected_envs.shipped_benchmarks",
    "CLASSIC_DESCRIPTION": "projected_envs.shipped_benchmarks",
    "CLASSIC_EXTRAS": "projected_envs.shipped_benchmarks",
    "CLASSIC_KWARGS": "projected_envs.shipped_benchmarks",
    "CLASSIC_OOD": "projected_envs.shipped_benchmarks",
    "CLASSIC_TRAIN": "projected_envs.shipped_benchmarks",
    "DMC_OOD": "projected_envs.shipped_benchmarks",
    "DMC_TRAIN": "projected_envs.shipped_benchmarks",
    "NAV_DESCRIPTION": "projected_envs.shipped_benchmarks",
    "NAV_ENV": "projected_envs.shipped_benchmarks",
    "NAV_KWARGS": "projected_envs.shipped_benchmarks",
    "NAV_OOD_KWARGS": "projected_envs.shipped_benchmarks",
    "SHIPPED_GAMMA": "projected_envs.shipped_benchmarks",
    "shipped_return_scales": "projected_envs.shipped_benchmarks",
    "_shipped_return_scales": "projected_envs.shipped_benchmarks",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'projected_envs.benchmarks' has no attribute {name!r}")
    warn_renamed(f"projected_envs.benchmarks.{name}", f"{module}.{name}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(_MOVED)
