"""Probe environments: tiny MDPs whose optimum is known, for learning tests of the agents.

Each probe follows :mod:`projected_envs.core` (``reset``, ``transition`` without auto-reset,
``step`` with auto-reset, ``sample_task``), has float32 observations and continuous actions in
``[-1, 1]`` (clipped inside the env), and ends its episodes with ``terminated=True``. They
compile in well under a second, so a test can train an agent on them in CPU seconds.

* ``CueRecall(delay)``: obs ``[2]``, action ``[1]``, ``delay + 2`` steps, optimum 1; needs
  memory (a memoryless policy earns 0).
* ``TargetMatch(size)``: obs ``[size]``, action ``[size]``, 1 step, optimum 0; no memory needed.
* ``SignBandit()``: obs ``[1]``, action ``[1]``, 1 step, optimum 1 per episode; the paying
  sign is the task, so it needs in-context learning across the trials of one task.

``PROBE_ENVS`` maps each name to its factory (the class; keyword arguments go to it); the
registry exposes them as ``"probe/<name>"``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import Environment, StepResult, check_action, real_box, unit_box

# --------------------------------------------------------------------------------- CueRecall


def _check_limit(owner: str, max_steps_in_episode: int) -> None:
    """One-step probes accept any time limit >= 1 (it never binds); reject the others."""
    if int(max_steps_in_episode) < 1:
        raise ValueError(f"{owner}: max_steps_in_episode must be >= 1, got {max_steps_in_episode}.")


@struct.dataclass
class CueRecallParams:
    """The CueRecall task: how many blank steps separate the cue from the query."""

    delay: jax.Array | int = 4  # int32 []: blank steps between cue and query
    max_steps_in_episode: jax.Array | int = 6  # int32 []: time limit (truncation), agent steps


@struct.dataclass
class CueRecallState:
    """One CueRecall episode."""

    cue: jax.Array  # float32 []: +1 or -1, drawn at reset
    time: jax.Array  # int32 []: steps taken in this episode


class CueRecall(Environment[CueRecallState, CueRecallParams]):
    """Memory probe: recall a ±1 cue that was shown once, ``delay`` steps earlier.

    Observation ``[cue_channel, query_flag]`` (float32 ``[2]``):

    * step 0: ``[cue, 0]`` with ``cue`` drawn uniformly from ``{-1, +1}`` at reset;
    * steps ``1 .. delay``: ``[0, 0]``;
    * step ``delay + 1`` (the query): ``[0, 1]``.

    The reward is 0 except on the query step, where it is ``clip(action[0], -1, 1) * cue``
    and the episode terminates. The optimal return is 1 (answer ``sign(cue)``); any
    memoryless policy sees the same query observation for both cues and earns 0 in
    expectation. ``max_steps_in_episode`` (default ``delay + 2``, i.e. no limit) truncates
    episodes that have not reached the query by then. Do not append the previous action to
    the observation (MetaEpisode's ``"action"`` extra): a memoryless policy could then carry
    the cue forward in its own actions.
    """

    def __init__(self, delay: int = 4, max_steps_in_episode: int | None = None):
        if int(delay) < 0:
            raise ValueError(f"CueRecall: delay must be >= 0, got {delay}.")
        self.delay = int(delay)
        limit = self.delay + 2 if max_steps_in_episode is None else int(max_steps_in_episode)
        if limit < 1:
            raise ValueError(f"CueRecall: max_steps_in_episode must be >= 1, got {limit}.")
        self.max_steps_in_episode = limit

    @property
    def default_params(self) -> CueRecallParams:
        return CueRecallParams(delay=self.delay, max_steps_in_episode=self.max_steps_in_episode)

    def _obs(self, state: CueRecallState, params: CueRecallParams) -> jax.Array:
        cue_channel = jnp.where(state.time == 0, state.cue, 0.0)
        query = (state.time == params.delay + 1).astype(jnp.float32)
        return jnp.stack([cue_channel, query]).astype(jnp.float32)  # [2]

    def reset(self, key: jax.Array, params: CueRecallParams | None = None):
        params = self.default_params if params is None else params
        cue = jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(jnp.float32)
        state = CueRecallState(cue=cue, time=jnp.zeros((), jnp.int32))
        return self._obs(state, params), state

    def transition(
        self, key: jax.Array, state: CueRecallState, action: jax.Array, params: CueRecallParams
    ) -> StepResult:
        del key
        action = jnp.clip(check_action(action, 1, "CueRecall.transition"), -1.0, 1.0)
        is_query = state.time == params.delay + 1
        reward = jnp.where(is_query, action[0] * state.cue, 0.0).astype(jnp.float32)
        state = state.replace(time=state.time + 1)
        truncated = jnp.logical_and(state.time >= params.max_steps_in_episode, ~is_query)
        return self._obs(state, params), state, reward, is_query, truncated, {}

    def observation_space(self, params: CueRecallParams) -> spaces.Box:
        return real_box(2)

    def action_space(self, params: CueRecallParams | None = None) -> spaces.Box:
        return unit_box(1)

    @property
    def num_actions(self) -> int:
        return 1


# ------------------------------------------------------------------------------- TargetMatch


@struct.dataclass
class TargetMatchState:
    """One TargetMatch episode."""

    target: jax.Array  # float32 [size]: uniform in [-1, 1], drawn at reset


@struct.dataclass
class TargetMatchParams:
    """TargetMatch has no task parameters; the target is per episode."""


class TargetMatch(Environment[TargetMatchState, TargetMatchParams]):
    """No-memory probe: one step; observe a target in ``[-1, 1]^size``, act it out.

    Reward ``-mean((clip(action, -1, 1) - target) ** 2)``, then ``terminated``. Optimal
    return 0; a policy that always outputs 0 earns ``-1/3`` in expectation. Episodes last one
    step, so ``max_steps_in_episode`` (accepted like every built-in) never binds.
    """

    def __init__(self, size: int = 1, max_steps_in_episode: int = 1):
        if int(size) < 1:
            raise ValueError(f"TargetMatch: size must be >= 1, got {size}.")
        _check_limit("TargetMatch", max_steps_in_episode)
        self.size = int(size)

    @property
    def default_params(self) -> TargetMatchParams:
        return TargetMatchParams()

    def reset(self, key: jax.Array, params: TargetMatchParams | None = None):
        target = jax.random.uniform(key, (self.size,), jnp.float32, -1.0, 1.0)
        return target, TargetMatchState(target=target)

    def transition(
        self, key: jax.Array, state: TargetMatchState, action: jax.Array, params: TargetMatchParams
    ) -> StepResult:
        del key
        action = jnp.clip(check_action(action, self.size, "TargetMatch.transition"), -1.0, 1.0)
        reward = -jnp.mean((action - state.target) ** 2)
        obs = jnp.zeros((self.size,), jnp.float32)
        return obs, state, reward, jnp.ones((), bool), jnp.zeros((), bool), {}

    def observation_space(self, params: TargetMatchParams) -> spaces.Box:
        return real_box(self.size)

    def action_space(self, params: TargetMatchParams | None = None) -> spaces.Box:
        return unit_box(self.size)

    @property
    def num_actions(self) -> int:
        return self.size


# -------------------------------------------------------------------------------- SignBandit


@struct.dataclass
class SignBanditParams:
    """The SignBandit task: which sign of the action pays."""

    sign: jax.Array | float = 1.0  # float32 []: +1 or -1, drawn by sample_task


@struct.dataclass
class SignBanditState:
    """SignBandit is stateless; the state only marks the episode."""

    time: jax.Array  # int32 []: steps taken (0 or 1)


class SignBandit(Environment[SignBanditState, SignBanditParams]):
    """In-context probe: a one-step bandit whose paying sign is the task.

    The observation is a constant ``[1.0]``; the reward is ``clip(action[0], -1, 1) * sign``
    where ``sign`` in ``{-1, +1}`` is drawn by :meth:`sample_task` (the default params use
    ``+1``). Every episode terminates after one step. Within one task (e.g. ``MetaEpisode`` of
    K trials, with the previous action and reward appended to the observation) an agent with
    memory can try one sign and then exploit: return ``K - 2`` in the worst case and about
    ``K - 1`` in expectation; a memoryless agent earns 0 in expectation.
    """

    def __init__(self, max_steps_in_episode: int = 1):
        _check_limit("SignBandit", max_steps_in_episode)

    @property
    def samples_task(self) -> bool:
        """True: the paying sign is drawn per task by :meth:`sample_task`."""
        return True

    @property
    def default_params(self) -> SignBanditParams:
        return SignBanditParams(sign=jnp.float32(1.0))

    def sample_task(self, key: jax.Array) -> SignBanditParams:
        sign = jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(jnp.float32)
        return SignBanditParams(sign=sign)

    def reset(self, key: jax.Array, params: SignBanditParams | None = None):
        del key
        return jnp.ones((1,), jnp.float32), SignBanditState(time=jnp.zeros((), jnp.int32))

    def transition(
        self, key: jax.Array, state: SignBanditState, action: jax.Array, params: SignBanditParams
    ) -> StepResult:
        del key
        action = jnp.clip(check_action(action, 1, "SignBandit.transition"), -1.0, 1.0)
        reward = (action[0] * params.sign).astype(jnp.float32)
        state = state.replace(time=state.time + 1)
        obs = jnp.ones((1,), jnp.float32)
        return obs, state, reward, jnp.ones((), bool), jnp.zeros((), bool), {}

    def observation_space(self, params: SignBanditParams) -> spaces.Box:
        return real_box(1)

    def action_space(self, params: SignBanditParams | None = None) -> spaces.Box:
        return unit_box(1)

    @property
    def num_actions(self) -> int:
        return 1


# "probe/<name>" in the registry; each factory takes keyword arguments and returns the env.
PROBE_ENVS: dict[str, Callable[..., Environment]] = {
    "CueRecall": CueRecall,
    "TargetMatch": TargetMatch,
    "SignBandit": SignBandit,
}
