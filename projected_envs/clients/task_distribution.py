"""TaskDistribution: a task distribution as one gymnax env, for trainers that share one params.

rejax, purejaxrl, popjaxrl and gymnax's own wrappers ``vmap`` an env over their batch with one
shared ``params`` (``in_axes=(0, 0, 0, None)``). Handed a task of this package (a params
pytree), every env of their batch would run that one task: single-task RL. A
:class:`TaskDistribution` moves the task into the env **state** at this edge, so such a
trainer meta-trains across tasks without knowing it:

* ``reset(key, params)`` draws a task (``k_task, k_reset = split(key)``: the task from
  ``k_task``, the stack's ``reset`` from ``k_reset``) and keeps it in the state;
* ``step(key, state, action, params)`` is the stack's ``transition`` with the held task and
  the same ``key``; where that ends the task (the outer ``terminated | truncated``: after K
  trials for a :class:`~projected_envs.MetaEpisode` stack), the state is replaced by
  ``reset(fold_in(key, 0x5EED))``: a new task and a fresh first state (that key is derived only
  where a task ended, so a step hashes no key beyond the stack's own). A step on which no task ends
  draws no task (:func:`projected_envs.core.reset_where`: under ``vmap``, nothing when no
  member ended, only the finished members when a few did);
* ``params`` are :class:`TaskDistributionParams`: ``default_params`` means "the distribution",
  not one task; its ``max_steps_in_episode`` is the whole task's length (K x trial steps, a
  static int), so gymnax's ``RolloutWrapper`` and rejax's evaluation run whole tasks.

Tasks come from the stack's own ``sample_task``, from a :class:`~projected_envs.TaskSet`
split (its training seed space), or uniformly from a fixed bank given at construction.
Under :class:`~projected_envs.LegacyStepAPI` it serves 5-tuple clients (rejax, purejaxrl).

One base env per distribution: a trainer's ``vmap`` gives no member an index, so a batch over
several base envs would need a per-member ``lax.switch``, which under ``vmap`` runs every env
for every member (K envs: K times the cost). For several base envs use
:class:`~projected_envs.VecEnv` (one fixed group of slots per env), or one TaskDistribution per
env (``env=``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import (
    Environment,
    StepResult,
    Wrapper,
    check_state,
    reset_where,
)
from projected_envs.tasks import TaskBank, TaskSet

# The key of a task end's reset: fold_in(step key, _RESET_TAG), derived only where a task ended
# (inside reset_where), so a step costs no key split beyond the stack's own.
_RESET_TAG = 0x5EED

__all__ = ["TaskDistribution", "TaskDistributionParams", "TaskDistributionState"]


@struct.dataclass
class TaskDistributionParams:
    """Params of a :class:`TaskDistribution`: the distribution itself, so nothing traced.

    The task is drawn in ``reset`` and held in the state; these params only carry what gymnax
    clients read from an ``EnvParams``.
    """

    # steps of one whole task (K trials x the longest trial): a static Python int, as gymnax's
    # EnvParams has it (rejax's evaluation and RolloutWrapper use it as a loop bound)
    max_steps_in_episode: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class TaskDistributionState:
    """State of a :class:`TaskDistribution`: the stack's episode plus the task it runs."""

    inner: Any  # the stack's state (a MetaEpisodeState for a MetaEpisode stack)
    task: Any  # the stack's params pytree of the current task
    task_index: jax.Array  # int32 []: the task's index in the bank; -1 when it was sampled


def _meta_episode_trials(stack: Environment) -> int:
    """K of the outermost :class:`MetaEpisode` in ``stack`` (1 if there is none)."""
    from projected_envs.wrappers import MetaEpisode

    layer = stack
    while True:
        if isinstance(layer, MetaEpisode):
            return layer.num_trials
        if not isinstance(layer, Wrapper):
            return 1
        layer = layer.env


def _trial_steps(stack: Environment) -> int | None:
    """The base env's time limit (``default_params.max_steps_in_episode``), or None."""
    base = stack.unwrapped if isinstance(stack, Wrapper) else stack
    steps = getattr(base.default_params, "max_steps_in_episode", None)
    return None if steps is None else int(np.asarray(steps))


def _batch_size(tasks: Any, where: str) -> int:
    leaves = jax.tree.leaves(tasks)
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else -1 for x in leaves}
    if not leaves or len(sizes) != 1 or -1 in sizes or 0 in sizes:
        raise ValueError(
            f"{where}: tasks must be a non-empty batch of the stack's params, every leaf with "
            f"the same leading axis (jax.vmap(stack.sample_task)(keys), or a TaskBank); got "
            f"leading sizes {sorted(sizes)}."
        )
    return sizes.pop()


def _check_fits(stack: Environment, tasks: Any, where: str) -> None:
    want = jax.eval_shape(stack.sample_task, jax.random.key(0))
    got = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x)[1:], jnp.result_type(x)), tasks)
    same = jax.tree.structure(want) == jax.tree.structure(got) and all(
        (a.shape, a.dtype) == (b.shape, b.dtype)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got))
    )
    if not same:
        raise ValueError(
            f"{where}: the tasks do not fit this stack (another env, dims, families or "
            "wrappers). Build them with this stack's sample_task, or with the task set's "
            "eval_tasks / sample."
        )


class TaskDistribution(Environment):
    """A task distribution as one gymnax 1.x env whose ``reset`` draws the task (module docs).

    Args:
        source: an env stack whose ``sample_task(key)`` draws tasks (e.g.
            ``task_set.make_env(0)`` or your own ``MetaEpisode(...)`` stack), or a
            :class:`~projected_envs.TaskSet` split (``bench.train``): its tasks come from
            ``task_set.sample_task(env, key)``, the training seed space.
        tasks: draw uniformly from this fixed set instead: a :class:`~projected_envs.TaskBank`
            of ``source`` (a TaskSet; e.g. ``bench.id_test.eval_tasks(16)``), or, with a stack,
            its params batched on a leading axis (``jax.vmap(stack.sample_task)(keys)``).
        env: with a TaskSet of several base envs: which one (index or env id). One base env
            per distribution (module docstring: otherwise every step would pay for every env).
        max_steps_in_episode: the task length to report in ``default_params``; default K times
            the base env's time limit.

    Raises:
        TypeError: ``source`` is neither an env stack nor a TaskSet.
        ValueError: a TaskSet with several base envs and no ``env`` (names
            :class:`~projected_envs.VecEnv`), a bank that does not fit, or no known time
            limit and no ``max_steps_in_episode``.
    """

    def __init__(
        self,
        source: Environment | TaskSet,
        tasks: TaskBank | Any | None = None,
        *,
        env: int | str | None = None,
        max_steps_in_episode: int | None = None,
    ):
        where = "TaskDistribution"
        if isinstance(source, TaskSet):
            index = self._env_index(source, env, where)
            self.stack: Environment = source.make_env(index)
            self._draw: Callable[[jax.Array], Any] = lambda key: source.sample_task(index, key)
            self._identity: tuple[Any, ...] = ("task_set", source, index)
            if isinstance(tasks, TaskBank):
                groups = [g for g, i in enumerate(tasks.env_indices) if i == index]
                if not groups or tasks.env_ids[groups[0]] != source.envs[index]:
                    raise ValueError(
                        f"{where}: the bank has no tasks of {source.envs[index]!r}; build it "
                        "with this task set's eval_tasks(per_env) or sample(key, n)."
                    )
                tasks = tasks.params[groups[0]]
        elif isinstance(source, Environment):
            if env is not None:
                raise ValueError(f"{where}: env= picks one env of a TaskSet; got a stack.")
            if isinstance(tasks, TaskBank):
                raise ValueError(
                    f"{where}: a TaskBank belongs to a TaskSet; pass "
                    "TaskDistribution(task_set, tasks=bank), or batched params of this stack."
                )
            if isinstance(source, TaskDistribution):
                raise TypeError(f"{where}: source is already a TaskDistribution.")
            self.stack = source
            self._draw = source.sample_task
            self._identity = ("stack", id(source))
        else:
            raise TypeError(
                f"{where}: source must be an env stack (projected_envs Environment) or a "
                f"TaskSet; got {type(source).__name__}. Build one with task_set.make_env(i) "
                "or pe.benchmark(name).train."
            )
        self.source = source
        self.num_trials = _meta_episode_trials(self.stack)
        self.tasks = None
        self.num_tasks: int | None = None
        if tasks is not None:
            self.num_tasks = _batch_size(tasks, where)
            _check_fits(self.stack, tasks, where)
            self.tasks = jax.tree.map(jnp.asarray, tasks)
        if max_steps_in_episode is None:
            trial = _trial_steps(self.stack)
            if trial is None:
                raise ValueError(
                    f"{where}: {self.stack.name} has no max_steps_in_episode in its base "
                    "params; pass TaskDistribution(..., max_steps_in_episode=K * trial steps)."
                )
            max_steps_in_episode = self.num_trials * trial
        if isinstance(max_steps_in_episode, bool) or int(max_steps_in_episode) < 1:
            raise ValueError(f"{where}: max_steps_in_episode must be a positive int.")
        self._params = TaskDistributionParams(max_steps_in_episode=int(max_steps_in_episode))
        self._identity = (*self._identity, id(self.tasks), self._params)

    @staticmethod
    def _env_index(task_set: TaskSet, env: int | str | None, where: str) -> int:
        if env is None:
            if len(task_set.envs) > 1:
                raise ValueError(
                    f"{where}: task set {task_set.name or task_set.envs} has "
                    f"{len(task_set.envs)} base envs. A trainer's vmap gives no env an index, so "
                    "each step would run every base env for every member (a lax.switch under "
                    f"vmap costs {len(task_set.envs)} times as much). Use "
                    "pe.VecEnv(task_set, num_envs) for one batch over all its envs, or one "
                    "TaskDistribution per env: TaskDistribution(task_set, env=env_id)."
                )
            return 0
        if isinstance(env, str):
            if env not in task_set.envs:
                raise ValueError(f"{where}: env {env!r} is not in the task set {task_set.envs}.")
            return task_set.envs.index(env)
        return task_set._check_index(env)

    # ------------------------------------------------------------------ identity
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._identity == self._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __deepcopy__(self, memo: dict[int, Any]) -> TaskDistribution:
        """A new env sharing the (immutable) stack and bank: equal, same hash, so a deep-copied
        config (rejax's ``create``) still hits jit caches keyed on the env."""
        new = copy.copy(self)
        memo[id(self)] = new
        return new

    # ------------------------------------------------------------------ gymnax API
    @property
    def default_params(self) -> TaskDistributionParams:
        """The distribution (nothing traced); ``max_steps_in_episode``: K x trial steps."""
        return self._params

    @property
    def name(self) -> str:
        return f"TaskDistribution<{self.stack.name}>"

    def _check(self, params: Any) -> None:
        if params is not None and not isinstance(params, TaskDistributionParams):
            raise ValueError(
                f"{self.name}: params are {type(params).__name__}, expected "
                "TaskDistributionParams (env.default_params, the distribution). The task is "
                "drawn in reset and held in the state; to run one fixed task use the stack: "
                "env.stack.reset(key, task), or TaskDistribution(stack, tasks=batch)."
            )

    def draw_task(self, key: jax.Array) -> tuple[Any, jax.Array]:
        """One task from the distribution and its bank index (int32, -1 when sampled)."""
        if self.tasks is None:
            return self._draw(key), jnp.asarray(-1, jnp.int32)
        index = jax.random.randint(key, (), 0, self.num_tasks, dtype=jnp.int32)
        return jax.tree.map(lambda x: x[index], self.tasks), index

    def reset(
        self, key: jax.Array, params: TaskDistributionParams | None = None
    ) -> tuple[jax.Array, TaskDistributionState]:
        """Draw a task from ``split(key)[0]`` and reset the stack with ``split(key)[1]``."""
        self._check(params)
        k_task, k_reset = jax.random.split(key)
        task, index = self.draw_task(k_task)
        obs, inner = self.stack.reset(k_reset, task)
        return obs, TaskDistributionState(inner=inner, task=task, task_index=index)

    def transition(
        self,
        key: jax.Array,
        state: TaskDistributionState,
        action: jax.Array,
        params: TaskDistributionParams | None = None,
    ) -> StepResult:
        """The stack's ``transition`` under the held task (no new task, no auto-reset)."""
        self._check(params)
        check_state(state, self.name)
        obs, inner, reward, terminated, truncated, info = self.stack.transition(
            key, state.inner, action, state.task
        )
        return obs, state.replace(inner=inner), reward, terminated, truncated, info

    def step(
        self,
        key: jax.Array,
        state: TaskDistributionState,
        action: jax.Array,
        params: TaskDistributionParams | None = None,
    ) -> StepResult:
        """``transition(key)``; where the task ended, ``reset(fold_in(key, 0x5EED))``.

        ``info`` adds gymnax 1.x's ``terminated``, ``truncated`` and ``final_observation``
        (the observation that ended the task; ``obs`` elsewhere) to the stack's info (for a
        MetaEpisode stack: ``trial``, ``trial_done``, ``trial_return``, ``trial_returns``).
        """
        obs_st, state_st, reward, terminated, truncated, info = self.transition(
            key, state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        fresh = lambda k, _: self.reset(jax.random.fold_in(k, _RESET_TAG))
        obs, state = reset_where(fresh, done, key, None, obs_st, state_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    def sample_task(self, key: jax.Array) -> TaskDistributionParams:
        """The params of this env: ``default_params`` (its tasks are drawn in ``reset``)."""
        del key
        return self._params

    def observation_space(self, params: Any = None) -> spaces.Box:
        return self.stack.observation_space(self.stack.default_params)

    def action_space(self, params: Any = None) -> spaces.Box:
        return self.stack.action_space(self.stack.default_params)
