"""Meta-CartPole in popjaxrl's shape: a positive control for in-context learning.

popjaxrl's ``NoisyStatelessMetaCartPole`` (Lu et al. 2023, the meta-CartPole experiment):
stateless CartPole (only the cart position ``x`` and pole angle ``theta`` are observed, the
velocities must be inferred from memory), a random orthogonal observation projection 2 -> 4
drawn per task, 16 trials of at most 200 steps per task, reward ``1 / 200`` per step survived.
Here, through this package's machinery:

* the base env :class:`ContinuousStatelessCartPole` is gymnax's ``CartPole-v1`` dynamics
  (gymnax's own ``step_env``) with a continuous push: the agent's action in ``[-1, 1]`` is
  mapped affinely onto ``[-force_mag, force_mag]`` newtons, as every continuous env of this
  package maps its actions (:class:`projected_envs.backends.gymnax.GymnaxEnv`), so ``+1`` and
  ``-1`` are gymnax's discrete actions 1 and 0 exactly; ``reward_per_step`` (a params field,
  default 1: gymnax's reward) is ``1 / 200`` in the benchmark, popjaxrl's scale;
* the benchmark ``meta-cartpole``: ``M_o`` orthogonal ``[4, 2]`` drawn per task (scaled
  ``sqrt(2)`` by the package's convention, popjaxrl's ``orthogonal(sqrt(2))`` Dense kernel),
  no action projection (``A = 1``, identity), K = 16 trials, extras previous action,
  trial-done and task-start flags (popjaxrl appends action, done and a start flag).
  ``ood_test``: the same env under gaussian ``M_o`` (a held-out projection family).
  Observations are not standardised (``normalize=False``: popjaxrl feeds raw ``x, theta``).

Differences from popjaxrl, on purpose: every trial starts from a fresh initial state drawn
from its key (popjaxrl restarts each trial from the task's first state); continuous actions.
Importing this module registers the env ``gymnax/StatelessCartPole-continuous`` and the
benchmark ``meta-cartpole``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces
from gymnax.environments.classic_control import cartpole

from projected_envs.backends.gymnax import GymnaxEnv
from projected_envs.benchmark_registry import (
    Benchmark,
    benchmarks,
    make_benchmark,
    register_benchmark,
)
from projected_envs.registry import register, registered_envs

__all__ = [
    "META_CARTPOLE_ENV",
    "ContinuousStatelessCartPole",
    "StatelessCartPoleParams",
    "make_meta_cartpole_env",
    "meta_cartpole",
]

META_CARTPOLE_ENV = "gymnax/StatelessCartPole-continuous"
POPJAXRL_STEPS = 200  # popjaxrl's NoisyStatelessCartPole(max_steps_in_episode=200)


@struct.dataclass
class StatelessCartPoleParams(cartpole.EnvParams):
    """gymnax CartPole-v1's params plus the reward per step survived (gymnax: 1)."""

    reward_per_step: float = 1.0


class ContinuousStatelessCartPole(cartpole.CartPole):
    """gymnax CartPole-v1 with a continuous push in newtons; observes ``(x, theta)`` only.

    The action is the push ``f`` in ``[-force_mag, force_mag]`` (clipped); gymnax's step
    computes ``force_mag * u - force_mag * (1 - u)`` from ``u = (f / force_mag + 1) / 2``,
    i.e. ``f`` itself, so the dynamics are gymnax's code. Reward: gymnax's (1 per step while
    not terminated) times ``params.reward_per_step``.
    """

    @property
    def default_params(self) -> StatelessCartPoleParams:
        """CartPole-v1's params (500-step limit) with ``reward_per_step = 1``."""
        return StatelessCartPoleParams()

    def step_env(
        self, key: jax.Array, state: cartpole.EnvState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, cartpole.EnvState, jax.Array, jax.Array, dict[str, Any]]:
        """One Euler step of gymnax's dynamics under the push ``action`` (N, shape [1] or [])."""
        push = jnp.clip(jnp.reshape(action, ()), -params.force_mag, params.force_mag)
        u = 0.5 * (push / params.force_mag + 1.0)
        obs, state, reward, done, info = super().step_env(key, state, u, params)
        return obs, state, reward * params.reward_per_step, done, info

    def get_obs(self, state: cartpole.EnvState, params: Any = None, key: Any = None) -> jax.Array:
        """``[x, theta]``: no velocities (stateless CartPole)."""
        return jnp.array([state.x, state.theta])

    @property
    def name(self) -> str:
        return "StatelessCartPole-continuous"

    def action_space(self, params: Any = None) -> spaces.Box:
        """The push in newtons, ``[-force_mag, force_mag]``, shape ``(1,)``."""
        force = (self.default_params if params is None else params).force_mag
        return spaces.Box(-force, force, (1,), dtype=jnp.float32)

    def observation_space(self, params: Any) -> spaces.Box:
        """``(x, theta)`` bounded by twice the termination thresholds (as gymnax's)."""
        high = jnp.array([params.x_threshold * 2, params.theta_threshold_radians * 2])
        return spaces.Box(-high, high, (2,), dtype=jnp.float32)


def make_meta_cartpole_env(**param_overrides: Any) -> GymnaxEnv:
    """``gymnax/StatelessCartPole-continuous``; keyword arguments override params fields.

    Example: ``make_meta_cartpole_env(max_steps_in_episode=200, reward_per_step=1 / 200)``.

    Raises:
        ValueError: a keyword that is not a field of :class:`StatelessCartPoleParams`.
    """
    env = ContinuousStatelessCartPole()
    params = env.default_params
    fields = set(params.__dataclass_fields__)
    unknown = sorted(set(param_overrides) - fields)
    if unknown:
        raise ValueError(
            f"{META_CARTPOLE_ENV}: unknown keyword(s) {unknown}; the params fields are "
            f"{sorted(fields)}."
        )
    return GymnaxEnv(env, params.replace(**param_overrides), name=META_CARTPOLE_ENV)


META_CARTPOLE_KWARGS: dict[str, Any] = {
    "max_steps_in_episode": POPJAXRL_STEPS,
    "reward_per_step": 1.0 / POPJAXRL_STEPS,  # a trial's return is in [0, 1]
}


def meta_cartpole() -> Benchmark:
    """The ``meta-cartpole`` benchmark (see the module docstring)."""
    return make_benchmark(
        "meta-cartpole",
        (META_CARTPOLE_ENV,),
        None,
        obs_dim=4,
        action_dim=1,
        num_trials=16,
        obs_family="orthogonal",
        action_family="identity",
        ood_obs_family="gaussian",
        normalize=False,
        obs_extras=("action", "trial_done", "task_start"),
        env_kwargs={META_CARTPOLE_ENV: META_CARTPOLE_KWARGS},
        description=(
            "Meta-CartPole in popjaxrl's shape (Lu et al. 2023): stateless CartPole (x, theta "
            "observed), continuous push, a random orthogonal 2 -> 4 observation projection "
            "per task, K=16 trials of at most 200 steps, reward 1/200 per step survived. "
            "ood_test: gaussian observation projections. A positive control for in-context "
            "learning."
        ),
        gamma=0.99,
    )


if META_CARTPOLE_ENV not in registered_envs():
    register(META_CARTPOLE_ENV, make_meta_cartpole_env)
if "meta-cartpole" not in benchmarks():
    register_benchmark(meta_cartpole, name="meta-cartpole")
