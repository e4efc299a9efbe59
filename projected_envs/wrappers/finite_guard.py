"""``FiniteGuard``: a non-finite observation or reward ends the episode; none reaches the agent."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from projected_envs.core import StepResult, Wrapper, check_state

__all__ = ["FiniteGuard"]


class FiniteGuard(Wrapper):
    """End the episode on a non-finite observation or reward, so none reaches the agent.

    Where the wrapped env's ``transition`` returns an observation or reward with a NaN or
    +-inf entry (a simulator that blew up), this step instead returns the observation with
    those entries set to 0, reward 0, ``terminated=True`` (``truncated=False``) and
    ``info["nonfinite"] = True`` (bool ``[]``, False on every other step). ``step`` then draws
    a fresh initial state by the usual auto-reset, and :class:`MetaEpisode` starts the next
    trial, so a broken physics state is never stepped again. Reset observations are made
    finite the same way. Put it directly around the base env (under :class:`Normalize`, whose
    clip lets NaN through); :class:`projected_envs.TaskSet` stacks do. Params and state are the
    inner env's, unchanged. Cost: one ``isfinite`` over the observation per step.
    """

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, self.check_params(params))
        return jnp.where(jnp.isfinite(obs), obs, 0.0), state

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        check_state(state, self.name)
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, action, self.check_params(params)
        )
        finite_obs = jnp.isfinite(obs)
        bad = jnp.logical_not(jnp.logical_and(jnp.all(finite_obs), jnp.isfinite(reward)))
        obs = jnp.where(finite_obs, obs, 0.0)
        reward = jnp.where(bad, jnp.zeros_like(reward), reward)
        terminated = jnp.logical_or(terminated, bad)
        truncated = jnp.logical_and(truncated, jnp.logical_not(terminated))
        return obs, state, reward, terminated, truncated, {**info, "nonfinite": bad}
