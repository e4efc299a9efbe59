"""Deprecated module path: the plots moved to :mod:`agents.experiment.plots`.

Every name of the old module resolves there, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from typing import Any

from projected_envs._deprecation import warn_renamed


def __getattr__(name: str) -> Any:
    from agents.experiment import plots

    if name.startswith("__") or not hasattr(plots, name):
        raise AttributeError(f"module 'agents.plotting' has no attribute {name!r}")
    warn_renamed(f"agents.plotting.{name}", f"agents.experiment.plots.{name}")
    return getattr(plots, name)
