"""FiniteGuard: a non-finite observation or reward ends the episode and a fresh state follows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.wrappers import FiniteGuard
from tests.helpers import NanEnv


def test_finite_guard_ends_the_episode_and_draws_a_fresh_state():
    env = FiniteGuard(NanEnv())
    params = env.default_params.replace(goal=jnp.float32(10.0), max_steps=jnp.int32(100))
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([0.5, 0.0])
    obs, state, reward, term, trunc, info = env.step(jax.random.key(1), state, action, params)
    assert not bool(info["nonfinite"]) and float(reward) == 0.5 and int(state.time) == 1
    obs, state, reward, term, trunc, info = env.step(jax.random.key(2), state, action, params)
    assert bool(info["nonfinite"]) and bool(term) and not bool(trunc)
    assert float(reward) == 0.0 and np.all(np.isfinite(info["final_observation"]))
    assert int(state.time) == 0 and float(state.acc) == 0.0  # auto-reset: a fresh episode
    assert np.all(np.isfinite(obs))
