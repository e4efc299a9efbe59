"""Moved to :mod:`projected_envs.statistics` (any agent's evaluation uses it); re-exported here
so that ``agents.statistics`` imports keep working."""

from projected_envs.statistics import (
    DEFAULT_NUM_RESAMPLES,
    STATISTICS,
    Statistic,
    iqm,
    stratified_bootstrap,
    summarize,
    summarize_scores,
)

__all__ = [
    "DEFAULT_NUM_RESAMPLES",
    "STATISTICS",
    "Statistic",
    "iqm",
    "stratified_bootstrap",
    "summarize",
    "summarize_scores",
]
