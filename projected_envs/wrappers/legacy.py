"""``LegacyStepAPI``: the gymnax < 1.0 five-tuple ``step`` for purejaxrl / popjaxrl style code."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from projected_envs.core import Wrapper

__all__ = ["LegacyStepAPI"]


class LegacyStepAPI(Wrapper):
    """gymnax < 1.0 step signature for code such as purejaxrl / popjaxrl.

    ``step(key, state, action, params=None) -> (obs, state, reward, done, info)`` with
    ``done = terminated | truncated`` and ``info["terminated"]``, ``info["truncated"]``,
    ``info["discount"]`` (float32, ``1 - terminated``) added to the wrapped env's info
    (which keeps ``"final_observation"``). Auto-reset is the wrapped env's ``step``.
    ``reset``, ``transition``, ``sample_task``, params and state are unchanged; keep this
    wrapper outermost.

    ``params=None`` (what such loops pass) is refused by stacks that sample tasks
    (:attr:`projected_envs.core.Environment.samples_task`): give each env its own task from
    ``env.sample_task(key)`` and draw a new one where ``done`` (a task end, under
    :class:`MetaEpisode`). ``docs/reference/wrappers.md`` ("Legacy 5-tuple API") has a tested
    recipe.
    """

    def step(  # type: ignore[override]
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, Any]]:
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "discount": 1.0 - jnp.asarray(terminated, jnp.float32),
        }
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    @property
    def num_actions(self) -> int:
        """Size of the action vector (gymnax < 1.0 name)."""
        return self.action_size
