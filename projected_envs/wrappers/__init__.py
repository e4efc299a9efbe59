"""Task wrappers, one module per job: projection, meta_episode, normalize, finite_guard, legacy.

The intended stack, innermost first (see ``docs/reference/wrappers.md``)::

    env, _ = projected_envs.make("brax/hopper")
    env = Normalize(env)                          # per-base-env obs standardisation, reward scale
    env = ProjectObservation(env, dim=12)         # o' = M_o o
    env = ProjectAction(env, dim=2)               # a_env = clip(M_a a, -1, 1)
    env = MetaEpisode(env, num_trials=4)          # K trials of one task, extras in the obs
    task = env.sample_task(key)                   # nested params: task.inner.inner.obs_matrix ...

Every wrapper follows :mod:`projected_envs.core`: ``reset``, ``transition`` (no auto-reset),
``step`` (auto-reset) and ``sample_task``. A wrapper that samples part of the task keeps it in
its own ``flax.struct`` params dataclass next to the inner params (``params.inner``); its
``sample_task(key)`` splits ``key`` into ``(k_inner, k_own)``, so the same key gives the same
task bitwise. Wrappers without a task part of their own pass params (and ``sample_task``)
through unchanged. ``reset`` and ``step`` never sample a task.
"""

from projected_envs.wrappers.finite_guard import FiniteGuard
from projected_envs.wrappers.legacy import LegacyStepAPI
from projected_envs.wrappers.meta_episode import META_EPISODE_EXTRAS, MetaEpisode, MetaEpisodeState
from projected_envs.wrappers.normalize import NormalizationStats, Normalize, normalization_stats
from projected_envs.wrappers.projection import (
    ProjectAction,
    ProjectActionParams,
    ProjectObservation,
    ProjectObservationParams,
)

__all__ = [
    "META_EPISODE_EXTRAS",
    "FiniteGuard",
    "LegacyStepAPI",
    "MetaEpisode",
    "MetaEpisodeState",
    "NormalizationStats",
    "Normalize",
    "ProjectAction",
    "ProjectActionParams",
    "ProjectObservation",
    "ProjectObservationParams",
    "normalization_stats",
]
