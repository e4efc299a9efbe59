"""Shared test fixtures: FakeEnv (a tiny env whose episode ends a Python loop can predict), its
stacks, NanEnv (non-finite outputs on demand), a small gymnax task set, and one jitted rollout
shared by the wrapper tests (one compile per env stack; params are traced, so new tasks of a
stack reuse the compiled rollout)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import Environment, check_action, real_box, unit_box
from projected_envs.tasks import TaskSet
from projected_envs.wrappers import MetaEpisode, Normalize, ProjectAction, ProjectObservation


@struct.dataclass
class FakeParams:
    """Task of FakeEnv."""

    goal: jax.Array  # float32 []: terminate once the summed action[0] reaches it
    max_steps: jax.Array  # int32 []: truncate after this many steps
    offset: jax.Array  # float32 []: added to obs[0]; sampled by sample_task


@struct.dataclass
class FakeState:
    start: jax.Array  # float32 []: uniform in [0, 1), drawn at reset from the key
    acc: jax.Array  # float32 []: summed action[0] in this episode
    time: jax.Array  # int32 []: steps in this episode


def fake_params(goal: float = 1.5, max_steps: int = 5, offset: float = 0.0) -> FakeParams:
    return FakeParams(jnp.float32(goal), jnp.int32(max_steps), jnp.float32(offset))


class FakeEnv(Environment):
    """obs [start + offset, acc, time]; action [2]; reward a0 + 0.5 a1 (clipped actions).

    Terminates when ``acc >= goal``, else truncates at ``time >= max_steps``. With actions on a
    dyadic grid the episode ends are exact, so a plain Python loop can predict them.
    """

    @property
    def default_params(self) -> FakeParams:
        return fake_params()

    def sample_task(self, key: jax.Array) -> FakeParams:
        return fake_params(offset=jax.random.normal(key))

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        state = FakeState(jax.random.uniform(key), jnp.float32(0.0), jnp.int32(0))
        return self._obs(state, params), state

    def _obs(self, state: FakeState, params: FakeParams) -> jax.Array:
        return jnp.stack([state.start + params.offset, state.acc, state.time.astype(jnp.float32)])

    def transition(self, key, state, action, params):
        del key
        a = jnp.clip(check_action(action, 2, "FakeEnv"), -1.0, 1.0)
        state = FakeState(state.start, state.acc + a[0], state.time + 1)
        terminated = state.acc >= params.goal
        truncated = jnp.logical_and(state.time >= params.max_steps, jnp.logical_not(terminated))
        reward = a[0] + 0.5 * a[1]
        return self._obs(state, params), state, reward, terminated, truncated, {"acc": state.acc}

    def observation_space(self, params) -> spaces.Box:
        return real_box(3)

    def action_space(self, params=None) -> spaces.Box:
        return unit_box(2)


FAKE = FakeEnv()


K = 3


META = MetaEpisode(FAKE, num_trials=K)


STATS = {"obs_mean": [0.5, 1.0, 3.0], "obs_std": [0.25, 2.0, 0.5], "reward_scale": 0.1}


NORM = Normalize(FAKE, stats=STATS, obs_clip=3.0)


@functools.partial(jax.jit, static_argnums=0)
def rollout(env, params, key, actions):
    """``reset``, then ``step`` over ``actions`` [T, A]; returns obs0 and the stacked outputs."""
    key_reset, key_steps = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)

    def body(state, xs):
        key, action = xs
        out = env.step(key, state, action, params)
        return out[1], (out[0], *out[2:])

    keys = jax.random.split(key_steps, actions.shape[0])
    _, (obs, *rest) = jax.lax.scan(body, state, (keys, actions))
    return obs0, obs, *rest


def dyadic_actions(seed: int, steps: int, size: int = 2) -> jax.Array:
    """Actions on the grid {0, 0.25, ..., 1} (exact in float32), so sums compare exactly."""
    grid = np.random.default_rng(seed).integers(0, 5, size=(steps, size))
    return jnp.asarray(grid * 0.25, jnp.float32)


def full_stack(family: str = "gaussian") -> MetaEpisode:
    env = Normalize(FAKE, stats=STATS)
    env = ProjectObservation(env, dim=12, family=family)
    env = ProjectAction(env, dim=4, family=family)
    return MetaEpisode(env, num_trials=2, obs_extras=("reward", "trial_done"))


def leaves_equal(a, b) -> bool:
    same_structure = jax.tree.structure(a) == jax.tree.structure(b)
    return same_structure and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


STACK = MetaEpisode(ProjectAction(ProjectObservation(FAKE, dim=4), dim=3), num_trials=2)


class NanEnv(FakeEnv):
    """FakeEnv whose physics blows up (NaN obs, inf reward) once acc exceeds 0.6."""

    def transition(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().transition(
            key, state, action, params
        )
        broken = state.acc > 0.6
        obs = jnp.where(broken, obs.at[1].set(jnp.nan), obs)
        reward = jnp.where(broken, jnp.inf, reward)
        return obs, state, reward, terminated, truncated, info


SMALL = TaskSet(
    envs=("gymnax/Pendulum-v1", "gymnax/Reacher-misc"),
    obs_dim=6,
    action_dim=2,
    num_trials=2,
    normalize=False,
    name="small",
)

# One gymnax env with normalisation (the shipped stats) and 20-step trials.
PENDULUM_SET = TaskSet(
    envs=("gymnax/Pendulum-v1",),
    obs_dim=4,
    action_dim=2,
    num_trials=2,
    env_kwargs={"gymnax/Pendulum-v1": {"max_steps_in_episode": 20}},
)
