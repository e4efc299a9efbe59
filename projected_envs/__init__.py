"""projected-envs: projected continuous-control task distributions for meta-RL in JAX.

The public API (see the docs and ``DESIGN.md``):

* envs: :func:`make`, :func:`register`, :func:`registered_envs`; every env is a gymnax 1.x
  :class:`Environment` with ``reset``, ``step``, ``transition`` and ``sample_task``;
* wrappers: :class:`Normalize`, :class:`ProjectObservation`, :class:`ProjectAction`,
  :class:`MetaEpisode`, :class:`FiniteGuard`, :class:`LegacyStepAPI`;
* projections: :data:`PROJECTION_FAMILIES`, :func:`sample_projection`;
* task sets and benchmarks: :class:`TaskSet`, :class:`Benchmark`, :func:`benchmark`,
  :func:`benchmarks`, :func:`register_benchmark` (machinery in
  :mod:`projected_envs.benchmark_registry`, the shipped definitions in
  :mod:`projected_envs.shipped_benchmarks`);
* batching: :class:`VecEnv`;
* other people's trainers and loops: :class:`TaskDistribution` (gymnax env whose ``reset``
  draws the task), :func:`to_gymnasium` (Gymnasium vector env), :class:`GymnasiumEnv`;
* pictures: :func:`record` (per-trial trajectories), in :mod:`projected_envs.record`;
* evaluation of any policy: :func:`evaluate_policy`, :class:`Policy`, :class:`PolicyFns`,
  :class:`EvalResult`, normalised scores (:func:`normalized_scores`, :func:`reference_scores`,
  :class:`Reference`); statistics in :mod:`projected_envs.statistics`.
"""

# The old module path ``projected_envs.benchmarks`` stays importable (a shim that warns on use).
# It is imported first: importing a submodule binds it as an attribute of the package, and the
# public function ``benchmarks``, imported below, must win that name.
from projected_envs import benchmarks as _benchmarks_shim  # noqa: F401
from projected_envs import shipped_benchmarks as _shipped_benchmarks  # noqa: F401  (registers)
from projected_envs.benchmark_registry import (
    Benchmark,
    benchmark,
    benchmarks,
    make_benchmark,
    register_benchmark,
)
from projected_envs.clients import (
    GymnasiumEnv,
    GymnasiumVectorEnv,
    TaskDistribution,
    TaskDistributionParams,
    to_gymnasium,
)
from projected_envs.core import Environment, Wrapper
from projected_envs.evaluation import (
    EvalResult,
    Policy,
    PolicyFns,
    Reference,
    evaluate_policy,
    normalized_scores,
    reference_for,
    reference_scores,
)
from projected_envs.projections import PROJECTION_FAMILIES, projection, sample_projection
from projected_envs.record import Trajectory, record
from projected_envs.registry import make, register, registered_envs
from projected_envs.tasks import TaskBank, TaskSet
from projected_envs.vec import VecEnv, VecState
from projected_envs.wrappers import (
    META_EPISODE_EXTRAS,
    FiniteGuard,
    LegacyStepAPI,
    MetaEpisode,
    MetaEpisodeState,
    NormalizationStats,
    Normalize,
    ProjectAction,
    ProjectActionParams,
    ProjectObservation,
    ProjectObservationParams,
    normalization_stats,
)

__all__ = [
    "META_EPISODE_EXTRAS",
    "PROJECTION_FAMILIES",
    "Benchmark",
    "Environment",
    "EvalResult",
    "FiniteGuard",
    "GymnasiumEnv",
    "GymnasiumVectorEnv",
    "LegacyStepAPI",
    "MetaEpisode",
    "MetaEpisodeState",
    "NormalizationStats",
    "Normalize",
    "Policy",
    "PolicyFns",
    "ProjectAction",
    "ProjectActionParams",
    "ProjectObservation",
    "ProjectObservationParams",
    "Reference",
    "TaskBank",
    "TaskDistribution",
    "TaskDistributionParams",
    "TaskSet",
    "Trajectory",
    "VecEnv",
    "VecState",
    "Wrapper",
    "benchmark",
    "benchmarks",
    "evaluate_policy",
    "make",
    "make_benchmark",
    "normalization_stats",
    "normalized_scores",
    "projection",
    "record",
    "reference_for",
    "reference_scores",
    "register",
    "register_benchmark",
    "registered_envs",
    "sample_projection",
    "to_gymnasium",
]
