"""VecEnv: one batch of ``N`` slots over all envs of a task set, without ``lax.switch``.

Each env of the task set owns a fixed, contiguous **group** of slots (sizes by
:meth:`TaskSet.group_sizes`, i.e. proportional to the weights with the rounding rule of
:func:`projected_envs.tasks.allocate`; slot order = env order). Each group is
``vmap``-ed with its own env object and the outputs are concatenated, so a step costs the sum
of the groups, not ``len(envs)`` times it as a ``lax.switch`` under ``vmap`` would. Tasks change
inside a group (new projections, same base env); envs never do.

Two modes:

* ``VecEnv(task_set, num_envs)`` (training): every slot samples a task at ``reset`` and
  samples its next task whenever its task ends (outer ``terminated | truncated`` of
  ``MetaEpisode``, i.e. after K trials), then resets fresh from the key.
* ``VecEnv.from_bank(task_set, bank)`` (evaluation): one slot per task of a fixed
  :class:`~projected_envs.tasks.TaskBank`, no sampling; a slot whose task ends restarts the
  *same* task from a fresh key. ``info["first_episode_done"]`` marks the step on which each slot
  finishes its first meta-episode, so an evaluator can stop counting there.

Per-slot keys (to reproduce slot ``i`` alone)
---------------------------------------------
Slot ``i`` (its global index) runs ``env = task_set.make_env(env_index[i])`` with these keys:

* ``reset(key)``: ``k_task, k_reset = split(fold_in(key, i))``; ``task =
  task_set.sample_task(env_index[i], k_task)`` (bank mode: the bank's task ``i``);
  ``obs, s = env.reset(k_reset, task)``.
* ``step(key, ...)``: ``k_env, k_new = split(key)``; ``obs, s, r, term, trunc, info =
  env.transition(fold_in(k_env, i), s, a, task)``; if ``term | trunc`` the slot starts its next
  task exactly as ``reset(k_new)`` starts slot ``i`` (bank mode: the same task again).

So one hash per slot and step, as for a plain ``vmap`` over ``split(key, N)``; the next task is
only drawn on steps where some slot of the group ends its task (a ``lax.cond`` per group).

Rewards and flags are those of the finished step; ``info["final_observation"]`` is the
observation that ended the task (equal to ``obs`` elsewhere).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.core import Environment
from projected_envs.tasks import TaskBank, TaskSet

StepResult = tuple[jax.Array, "VecState", jax.Array, jax.Array, jax.Array, dict[str, Any]]


class VecState(NamedTuple):
    """The state of all slots of a :class:`VecEnv` (a pytree)."""

    env_states: tuple[Any, ...]  # per non-empty group: env state, leading axis [group size]
    tasks: tuple[Any, ...]  # per non-empty group: task params, leading axis [group size]
    episode_count: jax.Array  # int32 [N]: tasks (meta-episodes) this slot has finished


@dataclasses.dataclass(frozen=True)
class _Group:
    env_index: int  # index into task_set.envs
    start: int  # first slot
    size: int  # number of slots
    env: Environment  # the full stack of this env


def slot_keys(key: jax.Array, num_slots: int) -> jax.Array:
    """Per-slot keys ``[fold_in(key, i) for i in range(num_slots)]``, shape ``[num_slots, ...]``."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_slots))


def _where(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per-slot select over a batched pytree: ``mask`` bool ``[g]``."""

    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)


def _common_info(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate the info entries that every group has with matching trailing shape/dtype.

    Entries that only some groups have (backend-specific metrics) are dropped: slots of
    different envs cannot share them.
    """
    out = {}
    for name in infos[0]:
        if any(name not in info for info in infos):
            continue
        trees = [info[name] for info in infos]
        if any(jax.tree.structure(t) != jax.tree.structure(trees[0]) for t in trees):
            continue
        columns = list(zip(*(jax.tree.leaves(t) for t in trees)))
        if all(
            column[0].ndim >= 1 and len({(x.shape[1:], x.dtype) for x in column}) == 1
            for column in columns
        ):
            out[name] = jax.tree.map(lambda *xs: jnp.concatenate(xs), *trees)
    return out


class VecEnv:
    """A batch of ``num_envs`` slots over every env of a task set (see module docstring).

    Args:
        task_set: the task distribution; its envs are built with ``task_set.make_env``.
        num_envs: number of slots ``N``, at least the number of envs with positive weight.

    Attributes:
        num_envs: ``N``.
        obs_size: outer observation size (``task_set.obs_size``).
        action_size: outer action size ``A``.
        group_sizes: slots per env of the task set (tuple, zeros for zero-weight envs).
        env_index: int32 ``[N]`` numpy array, the env index of each slot.
        resample: True for training (new task at each task end), False for a bank.
    """

    def __init__(self, task_set: TaskSet, num_envs: int):
        if not isinstance(task_set, TaskSet):
            raise TypeError(f"VecEnv: task_set must be a TaskSet, got {type(task_set).__name__}.")
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer):
            raise ValueError(f"VecEnv: num_envs must be an int, got {num_envs!r}.")
        positive = sum(w > 0 for w in task_set.slot_weights)
        if num_envs < positive:
            raise ValueError(
                f"VecEnv: num_envs={num_envs} is fewer than the {positive} envs of task set "
                f"{task_set.name or task_set.envs}; every env needs at least one slot, so use "
                f"num_envs >= {positive} (a multiple of it gives equal groups for equal weights)."
            )
        self._setup(task_set, task_set.group_sizes(int(num_envs)), bank=None)

    @classmethod
    def from_bank(cls, task_set: TaskSet, bank: TaskBank) -> VecEnv:
        """An evaluation VecEnv: one slot per task of ``bank``, in bank order, never resampled.

        Slot ``t`` runs bank task ``t`` (env ``bank.env_index[t]``); when its meta-episode ends
        it restarts the same task from a fresh key. ``info["first_episode_done"]`` is True on
        the step where a slot finishes its first meta-episode, ``info["episode_count"]`` counts
        finished meta-episodes. ``task_set`` may differ from the bank's own set in
        ``num_trials`` (e.g. evaluate more trials than trained) as long as the task params
        have the same structure.

        Raises:
            ValueError: the bank's envs are not those of ``task_set`` or its params do not fit.
        """
        if not isinstance(bank, TaskBank):
            raise TypeError(f"VecEnv.from_bank: expected a TaskBank, got {type(bank).__name__}.")
        sizes = [0] * len(task_set.envs)
        for env_id, index, size in zip(bank.env_ids, bank.env_indices, bank.sizes):
            if index >= len(task_set.envs) or task_set.envs[index] != env_id:
                raise ValueError(
                    f"VecEnv.from_bank: bank env {env_id!r} (index {index}) is not env {index} of "
                    f"task set {task_set.envs}; build the bank with this task set's eval_tasks."
                )
            sizes[index] += size
        if list(bank.env_indices) != sorted(set(bank.env_indices)):
            raise ValueError("VecEnv.from_bank: bank groups must be in env order, one per env.")
        self = cls.__new__(cls)
        self._setup(task_set, tuple(sizes), bank=bank)
        for group, params in zip(self._groups, bank.params):
            want = jax.eval_shape(group.env.sample_task, jax.random.key(0))
            got = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), params)
            if jax.tree.structure(want) != jax.tree.structure(got) or any(
                (a.shape, a.dtype) != (b.shape, b.dtype)
                for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got))
            ):
                raise ValueError(
                    f"VecEnv.from_bank: the bank's tasks of {task_set.envs[group.env_index]!r} "
                    "do not fit this task set's env stack (other dims, families or wrappers)."
                )
        return self

    def _setup(self, task_set: TaskSet, sizes: tuple[int, ...], bank: TaskBank | None) -> None:
        self.task_set = task_set
        self.bank = bank
        self.resample = bank is None
        self.group_sizes = tuple(int(s) for s in sizes)
        self.num_envs = int(sum(self.group_sizes))
        self.obs_size = task_set.obs_size
        self.action_size = task_set.action_size
        self.env_index = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes).astype(np.int32)
        groups, start = [], 0
        for i, size in enumerate(self.group_sizes):
            if size > 0:
                groups.append(_Group(i, start, size, task_set.make_env(i)))
            start += size
        self._groups = tuple(groups)

    @property
    def envs(self) -> tuple[Environment, ...]:
        """The env stack of each env of the task set (``task_set.make_env(i)``)."""
        return tuple(self.task_set.make_env(i) for i in range(len(self.task_set.envs)))

    # ------------------------------------------------------------------ internals
    def _start(self, g: int, key: jax.Array) -> tuple[jax.Array, Any, Any]:
        """Start every slot of group ``g`` from ``key``: slot ``i`` splits ``fold_in(key, i)``
        into ``(k_task, k_reset)``, samples its task (bank mode: keeps the bank's) and resets."""
        group = self._groups[g]
        slots = jnp.arange(group.start, group.start + group.size)
        keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i)))(slots)
        k_task, k_reset = keys[:, 0], keys[:, 1]
        if self.resample:
            sample = functools.partial(self.task_set.sample_task, group.env_index)
            tasks = jax.vmap(sample)(k_task)
        else:
            assert self.bank is not None
            tasks = self.bank.params[g]
        obs, states = jax.vmap(group.env.reset)(k_reset, tasks)
        return obs, states, tasks

    # ------------------------------------------------------------------ API
    def reset(self, key: jax.Array) -> tuple[jax.Array, VecState]:
        """Start every slot: sample its task (bank mode: take it) and reset it.

        Args:
            key: PRNG key; slot ``i`` splits ``fold_in(key, i)`` into ``(k_task, k_reset)``.

        Returns:
            ``obs`` float32 ``[N, obs_size]`` and the :class:`VecState`.
        """
        obs, states, tasks = zip(*(self._start(g, key) for g in range(len(self._groups))))
        count = jnp.zeros((self.num_envs,), jnp.int32)
        return jnp.concatenate(obs), VecState(tuple(states), tuple(tasks), count)

    def step(self, key: jax.Array, state: VecState, actions: jax.Array) -> StepResult:
        """One step of every slot; slots whose task ended start the next one.

        Args:
            key: PRNG key; ``k_env, k_new = split(key)``, slot ``i`` steps with
                ``fold_in(k_env, i)`` and, if its task ends, starts the next one as
                ``reset(k_new)`` would start slot ``i`` (module docstring).
            state: the :class:`VecState` from ``reset`` or the previous ``step``.
            actions: float ``[N, action_size]`` in ``[-1, 1]``.

        Returns:
            ``(obs [N, obs_size], state, reward [N], terminated [N], truncated [N], info)``.
            ``terminated | truncated`` marks task ends (MetaEpisode's outer flags). ``info``:
            ``env_index`` int32 ``[N]``, ``final_observation`` ``[N, obs_size]``,
            ``episode_count`` int32 ``[N]`` (finished tasks, this step included),
            ``first_episode_done`` bool ``[N]``, plus every MetaEpisode info entry that all
            groups share (e.g. the trial index and trial returns), concatenated over slots.

        Raises:
            ValueError: ``actions`` not of shape ``[N, action_size]`` (at trace time).
        """
        actions = jnp.asarray(actions)
        if actions.shape != (self.num_envs, self.action_size):
            raise ValueError(
                f"VecEnv.step: actions have shape {actions.shape}, expected "
                f"({self.num_envs}, {self.action_size}) = (num_envs, action_size)."
            )
        actions = actions.astype(jnp.float32)
        k_env, k_new = jax.random.split(key)
        step_keys = slot_keys(k_env, self.num_envs)  # [N]
        outs = [
            self._step_group(g, k_new, step_keys, state, actions) for g in range(len(self._groups))
        ]
        obs, states, tasks, rewards, terms, truncs, finals, infos = zip(*outs)
        terminated, truncated = jnp.concatenate(terms), jnp.concatenate(truncs)
        done = jnp.logical_or(terminated, truncated)
        count = state.episode_count + done.astype(jnp.int32)
        info = _common_info(list(infos))
        info.update(
            env_index=jnp.asarray(self.env_index),
            final_observation=jnp.concatenate(finals),
            episode_count=count,
            first_episode_done=jnp.logical_and(done, count == 1),
        )
        new_state = VecState(tuple(states), tuple(tasks), count)
        return (
            jnp.concatenate(obs),
            new_state,
            jnp.concatenate(rewards),
            terminated,
            truncated,
            info,
        )

    def _step_group(self, g: int, k_new: jax.Array, step_keys: jax.Array, state, actions):
        group = self._groups[g]
        sl = slice(group.start, group.start + group.size)
        env_state, task = state.env_states[g], state.tasks[g]
        obs, env_state, reward, term, trunc, info = jax.vmap(group.env.transition)(
            step_keys[sl], env_state, actions[sl], task
        )
        done = jnp.logical_or(term, trunc)

        def restart(current):
            return _where(done, self._start(g, k_new), current)

        # A real branch at the group level (scalar predicate): the next tasks are sampled and
        # reset only on steps where some slot of the group ends its task, which is rare.
        final = obs
        obs, env_state, task = jax.lax.cond(
            jnp.any(done), restart, lambda current: current, (obs, env_state, task)
        )
        return obs, env_state, task, reward, term, trunc, final, info
