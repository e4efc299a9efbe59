"""Test-suite wide settings.

The default run (the README's test command, ``-m "not slow"``) must finish well inside 30
minutes on a 2-core CPU. Compiling a brax or MuJoCo Playground env takes 15-60 s each on such a
machine, so the default run checks the env contract on every gymnax and probe env and on a
representative set of brax and dmc envs; the other brax/dmc envs are marked ``slow``.
``python -m pytest -m slow`` runs them (and the slow scale checks of every shipped benchmark).
"""

from __future__ import annotations

import pytest

#: brax/dmc envs whose full contract runs by default: a terminating brax env, a dmc env and our
#: PointMassHard. (brax/hopper is in the slow set: under the contract's rollout it did not
#: terminate within 120 random steps with the spring backend; open in issue 2.)
REPRESENTATIVE = frozenset(
    {
        "brax/inverted_pendulum",
        "dmc/CartpoleBalance",
        "dmc/PointMassHard",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.originalname != "test_env_follows_contract":
            continue
        env_id = item.callspec.params.get("env_id", "")
        if env_id.split("/")[0] in ("brax", "dmc") and env_id not in REPRESENTATIVE:
            item.add_marker(pytest.mark.slow)
