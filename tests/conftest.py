"""Test-suite wide settings.

The default run (the README's test command, ``-m "not slow"``) must finish well inside 30
minutes on a 2-core CPU. Compiling a brax or MuJoCo Playground env takes 8-30 s each on such a
machine, so the default run checks the env contract on every gymnax and probe env and on a
representative set of brax and dmc envs; the other brax/dmc envs are marked ``slow``.
``python -m pytest -m slow`` runs them (and the slow scale checks of every shipped benchmark).
The selection lives next to the test it applies to: ``COMPILED_BY_DEFAULT`` in
tests/backends/test_contract.py.
"""

from __future__ import annotations

import chex
import pytest


@pytest.fixture(autouse=True)
def _fresh_trace_counters():
    """``chex.assert_max_traces`` counts per function footprint (its source and the call stack
    where it was wrapped), which repeats across parametrized tests: start each test at zero."""
    chex.clear_trace_counter()
