"""Projection wrappers: ``ProjectObservation`` (``o' = M_o o``) and ``ProjectAction``
(``a_env = clip(M_a a, -1, 1)``), with ``M_o`` and ``M_a`` part of the task.

Each keeps its matrix in its own ``flax.struct`` params dataclass next to the inner params
(``params.inner``); its ``sample_task(key)`` splits ``key`` into ``(k_inner, k_own)``, so the
same key gives the same task bitwise. The ``identity`` family carries no matrix (zero-pad or
truncate, no matmul).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import (
    Environment,
    StepResult,
    Wrapper,
    check_action,
    check_state,
    real_box,
    sanitize_action,
    unit_box,
)
from projected_envs.projections import ProjectionFn, embed, identity, projection
from projected_envs.wrappers._checks import positive_int as _positive_int

__all__ = [
    "ProjectAction",
    "ProjectActionParams",
    "ProjectObservation",
    "ProjectObservationParams",
]


def _family(family: str, where: str) -> ProjectionFn:
    try:
        return projection(family)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _check_matrix(matrix: jax.Array, shape: tuple[int, int], where: str) -> None:
    if tuple(matrix.shape) != shape:
        raise ValueError(
            f"{where}: projection matrix has shape {tuple(matrix.shape)}, expected {shape}. "
            "Pass params made by this env's sample_task(key) or default_params "
            "(for a batch of tasks, jax.vmap over the params)."
        )


class _OwnParamsWrapper(Wrapper):
    """A projection wrapper: params ``Own(inner=..., <matrix>)``, unwrapped for the spaces.

    Subclasses set ``family`` and ``_sample``; the ``identity`` family has no matrix (None).
    """

    family: str
    _sample: ProjectionFn

    def _inner_params(self, params: Any) -> Any:
        return self.env.default_params if params is None else params.inner

    def _matrix(self, key: jax.Array | None, rows: int, cols: int) -> jax.Array | None:
        """The task's matrix: None for ``identity``, else drawn (``key``) or the identity."""
        if self.family == "identity":
            return None
        return identity(None, rows, cols) if key is None else self._sample(key, rows, cols)

    @property
    def samples_task(self) -> bool:
        """True (a matrix per task); ``identity`` family: whether the inner env samples."""
        return self.family != "identity" or self.env.samples_task

    def observation_space(self, params: Any = None) -> spaces.Box:
        return self.env.observation_space(self._inner_params(params))

    def action_space(self, params: Any = None) -> spaces.Box:
        return self.env.action_space(self._inner_params(params))


# ------------------------------------------------------------------------- ProjectObservation


class _InnerTimeLimit:
    """``max_steps_in_episode`` of wrapper params: the inner task's (gymnax's ``EnvParams``
    field, which rejax, gymnax's ``RolloutWrapper`` and evosax read)."""

    inner: Any

    @property
    def max_steps_in_episode(self) -> Any:
        """The inner task's time limit in steps (one trial's, below ``MetaEpisode``)."""
        return self.inner.max_steps_in_episode


@struct.dataclass
class ProjectObservationParams(_InnerTimeLimit):
    """Params of :class:`ProjectObservation`: the inner task plus the observation projection."""

    inner: Any  # params of the wrapped env
    # float32 [dim, inner obs size]: M_o; None for the ``identity`` family (no matrix: zero-pad
    # or truncate, no matmul)
    obs_matrix: jax.Array | None


class ProjectObservation(_OwnParamsWrapper):
    """Project observations to a fixed size: ``o' = M_o o`` with ``M_o`` part of the task.

    ``M_o`` (float32 ``[dim, inner obs size]``) is drawn from ``family`` by ``sample_task``
    (see :mod:`projected_envs.projections` for the scaling of each family). ``default_params``
    uses the ``identity`` family (pad with zeros / truncate), so ``make()`` + this wrapper with
    default params is deterministic and, for ``dim`` equal to the inner obs size, reproduces the
    inner observations bitwise. The state is the inner env's state, unchanged.

    ``transition`` adds ``info["unprojected_obs"]`` (float32 ``[dim]``): the inner observation
    the step produced, before the projection, zero-padded to ``dim`` (or cut to its first
    ``dim`` entries where the inner observation is larger). It is there for trainers that
    know the task (an auxiliary loss, ``PPOConfig.aux_loss``), never for a policy: a policy
    that reads it is no longer evaluated on the projected task.

    With ``family="identity"`` nothing is random, so the wrapper carries no matrix: its params
    have ``obs_matrix=None`` (``default_params`` and ``sample_task`` alike) and observations are
    zero-padded or truncated without a matmul (:func:`projected_envs.projections.embed`; the
    same numbers, at a fraction of the cost on small envs: docs/reference/speed.md). Params with a
    matrix are refused there (another tree structure): to apply your own ``M_o``, use a
    wrapper of a random family and put the matrix in its params.

    Args:
        env: the env to wrap (usually ``Normalize(make(...))``).
        dim: size ``O`` of the projected observation, a positive int.
        family: projection family sampled by ``sample_task``, one of ``PROJECTION_FAMILIES``.

    Raises:
        ValueError: for a non-positive ``dim`` or an unknown ``family`` (listing the valid ones);
            at trace time, for ``params=None`` (this wrapper samples its matrix per task:
            pass ``env.sample_task(key)``, or ``default_params`` explicitly) or params of
            another env or stack.
    """

    def __init__(self, env: Environment, dim: int, family: str = "gaussian"):
        super().__init__(env)
        self.dim = _positive_int(dim, "ProjectObservation", "dim")
        self.family = family
        self._sample = _family(family, "ProjectObservation")
        self.in_dim = env.obs_size

    @property
    def default_params(self) -> ProjectObservationParams:
        """Inner default params with the identity (pad/truncate) projection."""
        matrix = self._matrix(None, self.dim, self.in_dim)
        return ProjectObservationParams(inner=self.env.default_params, obs_matrix=matrix)

    def sample_task(self, key: jax.Array) -> ProjectObservationParams:
        """Inner task from ``split(key)[0]``, ``M_o`` from ``family`` with ``split(key)[1]``."""
        key_inner, key_own = jax.random.split(key)
        matrix = self._matrix(key_own, self.dim, self.in_dim)
        return ProjectObservationParams(inner=self.env.sample_task(key_inner), obs_matrix=matrix)

    def _project(self, obs: jax.Array, params: ProjectObservationParams) -> jax.Array:
        if params.obs_matrix is None:  # identity family (check_params fixed the structure)
            return embed(obs, self.dim)
        _check_matrix(params.obs_matrix, (self.dim, self.in_dim), "ProjectObservation")
        return jnp.dot(params.obs_matrix, obs, precision=jax.lax.Precision.HIGHEST)  # [dim]

    def reset(
        self, key: jax.Array, params: ProjectObservationParams | None = None
    ) -> tuple[jax.Array, Any]:
        params = self.check_params(params)
        obs, state = self.env.reset(key, params.inner)
        return self._project(obs, params), state

    def transition(
        self, key: jax.Array, state: Any, action: jax.Array, params: ProjectObservationParams
    ) -> StepResult:
        check_state(state, self.name)
        params = self.check_params(params)
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, action, params.inner
        )
        info = {**info, "unprojected_obs": embed(obs, self.dim)}
        return self._project(obs, params), state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        return real_box(self.dim)


# ----------------------------------------------------------------------------- ProjectAction


@struct.dataclass
class ProjectActionParams(_InnerTimeLimit):
    """Params of :class:`ProjectAction`: the inner task plus the action projection."""

    inner: Any  # params of the wrapped env
    # float32 [inner action size, dim]: M_a; None for the ``identity`` family (no matrix)
    action_matrix: jax.Array | None


class ProjectAction(_OwnParamsWrapper):
    """Take actions of a fixed size: ``a_env = clip(M_a a, -1, 1)`` with ``M_a`` part of the task.

    The agent acts in ``[-1, 1]^dim``: its action is made finite (NaN and +-inf entries become
    0; ``info["action_nonfinite"]``, int32 ``[]``, counts them) and clipped to ``[-1, 1]``
    *before* the projection, so no action can push the inner env outside its box or make its
    input non-finite. ``M_a`` (float32 ``[inner action size, dim]``) is drawn
    from ``family`` by ``sample_task``. With the package's scaling convention each coordinate
    of ``M_a a`` has the second moment of an average coordinate of ``a``, but it can leave
    ``[-1, 1]``: it is then clipped to the inner env's action box, and
    ``info["action_clip"]`` (float32 ``[]``) reports the L1 norm ``sum |M_a a - clip(M_a a)|``
    of what was cut off (0 when nothing was). ``default_params`` uses the ``identity`` family,
    so with ``dim`` equal to the inner action size and actions in ``[-1, 1]`` the inner env sees
    the agent's actions unchanged. The state is the inner env's state, unchanged. With
    ``family="identity"`` the wrapper carries no matrix (``action_matrix=None``) and pads or
    truncates the action without a matmul, as :class:`ProjectObservation` does.

    Args:
        env: the env to wrap.
        dim: size ``A`` of the agent's action, a positive int.
        family: projection family sampled by ``sample_task``, one of ``PROJECTION_FAMILIES``.

    Raises:
        ValueError: for a non-positive ``dim``, an unknown ``family`` (listing the valid ones),
            or, at trace time, an action whose shape is not ``(dim,)``, ``params=None`` (this
            wrapper samples its matrix per task: pass ``env.sample_task(key)``) or params of
            another env or stack.
    """

    def __init__(self, env: Environment, dim: int, family: str = "gaussian"):
        super().__init__(env)
        self.dim = _positive_int(dim, "ProjectAction", "dim")
        self.family = family
        self._sample = _family(family, "ProjectAction")
        self.out_dim = env.action_size

    @property
    def default_params(self) -> ProjectActionParams:
        """Inner default params with the identity (pad/truncate) projection."""
        matrix = self._matrix(None, self.out_dim, self.dim)
        return ProjectActionParams(inner=self.env.default_params, action_matrix=matrix)

    def sample_task(self, key: jax.Array) -> ProjectActionParams:
        """Inner task from ``split(key)[0]``, ``M_a`` from ``family`` with ``split(key)[1]``."""
        key_inner, key_own = jax.random.split(key)
        matrix = self._matrix(key_own, self.out_dim, self.dim)
        return ProjectActionParams(inner=self.env.sample_task(key_inner), action_matrix=matrix)

    def reset(
        self, key: jax.Array, params: ProjectActionParams | None = None
    ) -> tuple[jax.Array, Any]:
        return self.env.reset(key, self.check_params(params).inner)

    def transition(
        self, key: jax.Array, state: Any, action: jax.Array, params: ProjectActionParams
    ) -> StepResult:
        check_state(state, self.name)
        params = self.check_params(params)
        action = check_action(action, self.dim, "ProjectAction")
        action, num_nonfinite = sanitize_action(action)  # [dim] in [-1, 1], finite
        if params.action_matrix is None:  # identity family: no matrix (structure checked)
            env_action = embed(action, self.out_dim)
        else:
            _check_matrix(params.action_matrix, (self.out_dim, self.dim), "ProjectAction")
            env_action = jnp.dot(params.action_matrix, action, precision=jax.lax.Precision.HIGHEST)
        clipped = jnp.clip(env_action, -1.0, 1.0)  # [inner action size]
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, clipped, params.inner
        )
        info = {
            **info,
            "action_clip": jnp.sum(jnp.abs(env_action - clipped)),
            "action_nonfinite": num_nonfinite,
        }
        return obs, state, reward, terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Box:
        return unit_box(self.dim)
