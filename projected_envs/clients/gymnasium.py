"""Gymnasium's vector and single-env APIs over :class:`~projected_envs.VecEnv`.

For PyTorch meta-RL code (AMAGO, garage's RL2, CleanRL-style loops) that reaches envs through
Gymnasium. :func:`to_gymnasium` gives a :class:`gymnasium.vector.VectorEnv` whose sub-env ``i``
is slot ``i`` of a ``VecEnv``: tasks drawn from the task set, one **episode** of Gymnasium's
API = one **task** of K trials (``terminated`` is MetaEpisode's task end). Trials are visible
in ``info`` only:

* ``info["trial"]`` int32 ``[N]``: the trial the step belonged to (0..K-1);
* ``info["trial_done"]`` bool ``[N]``: the step ended that trial;
* ``info["trial_returns"]`` float32 ``[N, K]``: the task's return per trial so far (complete
  where ``terminated``);
* ``info["env_index"]`` int32 ``[N]``: the task set's env of each sub-env.

The bridge never writes ``info["episode"]``, so
:class:`gymnasium.wrappers.vector.RecordEpisodeStatistics` can: it records whole tasks.

Autoreset (``metadata["autoreset_mode"]``): ``NEXT_STEP`` (Gymnasium's default; the step
that ends a task returns its last observation, the next step ignores that sub-env's action and
returns the first observation of its next task with reward 0) or ``SAME_STEP`` (the ending step
returns the next task's first observation; the last one is in ``info["final_obs"]``, masked by
``info["_final_obs"]``).

Costs per call: one jitted program (the env step, the autoreset and the packing of every
output into one float32 ``[N, width]`` array), one host-to-device copy of the actions and one
device-to-host copy of that array (numpy), or none at all through DLPack (``array="torch"``:
``torch.from_dlpack`` shares the JAX buffer, on the device JAX runs on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from projected_envs.core import Environment
from projected_envs.tasks import TaskBank, TaskSet
from projected_envs.vec import VecEnv, VecState

__all__ = ["GymnasiumEnv", "GymnasiumVectorEnv", "to_gymnasium"]

ArrayFn = Callable[[Any], Any]  # a DLPack importer: np.from_dlpack, torch.from_dlpack, ...


def _array_fn(array: str | ArrayFn) -> ArrayFn | None:
    """None: numpy through one ``jax.device_get``; else a DLPack importer."""
    if callable(array):
        return array
    if array == "numpy":
        return None
    if array == "torch":
        try:
            import torch
        except ImportError:
            raise ImportError(
                'array="torch" needs PyTorch: pip install torch (or use array="numpy").'
            ) from None
        return torch.from_dlpack
    raise ValueError(
        f'array must be "numpy", "torch" or a DLPack importer such as np.from_dlpack; '
        f"got {array!r}."
    )


def _host_actions(actions: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Actions as a float32 numpy array, checked: shape, a float dtype, finite values."""
    if hasattr(actions, "detach"):  # a torch tensor
        actions = actions.detach().cpu().numpy()
    actions = np.asarray(actions)
    if actions.shape != shape:
        raise ValueError(
            f"{where}: actions have shape {actions.shape}, expected {shape} "
            "(one action vector in [-1, 1] per sub-env)."
        )
    if not np.issubdtype(actions.dtype, np.floating):
        raise ValueError(
            f"{where}: actions have dtype {actions.dtype}; this is a continuous Box action "
            "space in [-1, 1]: pass floats (e.g. actions.astype(np.float32))."
        )
    if not np.all(np.isfinite(actions)):
        bad = np.argwhere(~np.isfinite(actions))[:4].tolist()
        raise ValueError(
            f"{where}: actions contain NaN or inf (at {bad}...); check the policy's outputs "
            "(the env would otherwise replace them by 0)."
        )
    return actions.astype(np.float32, copy=False)


def _autoreset(mode: AutoresetMode | str) -> AutoresetMode:
    if isinstance(mode, str):
        names = {m.name: m for m in AutoresetMode} | {m.value: m for m in AutoresetMode}
        mode = names.get(mode, mode)  # type: ignore[arg-type]
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(
            f"autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP, got "
            f"{mode!r} (every sub-env resets itself when its task ends)."
        )
    return mode


def _group_select(venv: VecEnv, keep: jax.Array, old: VecState, new: VecState) -> VecState:
    """``old`` where ``keep`` (bool ``[N]``), else ``new``, slot by slot over the groups."""

    def pick(mask: jax.Array, a: Any, b: Any) -> Any:
        return jax.tree.map(
            lambda x, y: jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y), a, b
        )

    starts = np.cumsum((0, *venv.group_sizes))
    groups = [(s, n) for s, n in zip(starts, venv.group_sizes) if n > 0]
    env_states = tuple(
        pick(keep[s : s + n], o, w) for (s, n), o, w in zip(groups, old.env_states, new.env_states)
    )
    tasks = tuple(pick(keep[s : s + n], o, w) for (s, n), o, w in zip(groups, old.tasks, new.tasks))
    count = jnp.where(keep, old.episode_count, new.episode_count)
    return VecState(env_states, tasks, count)


class _Layout:
    """Columns of the packed float32 ``[N, width]`` output (ints and flags are exact)."""

    def __init__(self, obs_size: int, num_trials: int, final_obs: bool):
        sizes = [
            ("obs", obs_size),
            ("reward", 1),
            ("terminated", 1),
            ("truncated", 1),
            ("trial", 1),
            ("trial_done", 1),
            ("trial_returns", num_trials),
            ("env_index", 1),
        ]
        if final_obs:
            sizes.append(("final_obs", obs_size))
        self.slices, start = {}, 0
        for name, size in sizes:
            self.slices[name] = slice(start, start + size)
            start += size
        self.width = start

    def pack(self, parts: Mapping[str, jax.Array]) -> jax.Array:
        cols = []
        for name, sl in self.slices.items():
            x = jnp.asarray(parts[name]).astype(jnp.float32)
            cols.append(x.reshape(x.shape[0], sl.stop - sl.start))
        return jnp.concatenate(cols, axis=1)


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """A :class:`gymnasium.vector.VectorEnv` over :class:`~projected_envs.VecEnv` (module docs).

    Build it with :func:`to_gymnasium`. Spaces: ``single_observation_space`` a float32
    ``Box(-inf, inf, (obs_size,))``, ``single_action_space`` a float32 ``Box(-1, 1, (A,))``.

    ``reset(seed=s)`` restarts every sub-env from ``jax.random.key(s)`` (``seed=None``: the
    next key of the env's own stream); ``reset(options={"tasks": bank})`` runs a fixed
    :class:`~projected_envs.TaskBank` of the task set instead (``len(bank) == num_envs``; sub-env
    ``i`` runs bank task ``i`` and restarts that task when it ends) until the next reset
    without ``"tasks"``.
    """

    def __init__(
        self,
        task_set: TaskSet,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        array: str | ArrayFn = "numpy",
        seed: int = 0,
    ):
        if not isinstance(task_set, TaskSet):
            raise TypeError(
                f"to_gymnasium: task_set must be a TaskSet (e.g. pe.benchmark(name).train), "
                f"got {type(task_set).__name__}."
            )
        self.task_set = task_set
        self._train_venv = VecEnv(task_set, num_envs)
        self._venv = self._train_venv
        self.num_envs = self._venv.num_envs
        self.autoreset_mode = _autoreset(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": []}
        self._from_dlpack = _array_fn(array)
        obs_size, action_size = task_set.obs_size, task_set.action_size
        self.single_observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, (obs_size,), np.float32
        )
        self.single_action_space = gymnasium.spaces.Box(-1.0, 1.0, (action_size,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        self._layout = _Layout(obs_size, task_set.num_trials, final_obs=same_step)
        self._key = jax.random.key(seed)
        self._carry: tuple[Any, ...] | None = None  # device: (key, VecState, obs, pending)
        self._compiled: dict[int, tuple[Any, ...]] = {}  # id(venv) -> (venv, reset, step)

    # ------------------------------------------------------------------ jitted programs
    def _programs(self, venv: VecEnv) -> tuple[Callable, Callable]:
        """The jitted ``reset`` and ``step`` of ``venv`` (built once per VecEnv)."""
        if id(venv) not in self._compiled:
            self._compiled[id(venv)] = (venv, *self._build(venv))
        return self._compiled[id(venv)][1:]

    def _build(self, venv: VecEnv) -> tuple[Callable, Callable]:
        layout, next_step = self._layout, self.autoreset_mode == AutoresetMode.NEXT_STEP
        n, k = venv.num_envs, self.task_set.num_trials
        env_index = jnp.asarray(venv.env_index)

        def reset(key: jax.Array) -> tuple[tuple[Any, ...], jax.Array]:
            key, k_reset = jax.random.split(key)
            obs, state = venv.reset(k_reset)
            zeros = jnp.zeros((n,), jnp.float32)
            packed = layout.pack(
                {
                    "obs": obs,
                    "reward": zeros,
                    "terminated": zeros,
                    "truncated": zeros,
                    "trial": zeros,
                    "trial_done": zeros,
                    "trial_returns": jnp.zeros((n, k)),
                    "env_index": env_index,
                    "final_obs": obs,
                }
            )
            return (key, state, obs, jnp.zeros((n,), bool)), packed

        def step(carry: tuple[Any, ...], actions: jax.Array) -> tuple[tuple[Any, ...], jax.Array]:
            key, state, last_obs, pending = carry
            key, k_step = jax.random.split(key)
            obs, new_state, reward, term, trunc, info = venv.step(k_step, state, actions)
            done = jnp.logical_or(term, trunc)
            final = info["final_observation"]
            parts = {
                "reward": reward,
                "terminated": term,
                "truncated": trunc,
                "trial": info["trial"],
                "trial_done": info["trial_done"],
                "trial_returns": info["trial_returns"],
                "env_index": env_index,
            }
            if next_step:
                # pending: the previous step ended this sub-env's task; VecEnv already started
                # the next one, so hand out its first observation and leave the state as is
                new_state = _group_select(venv, pending, state, new_state)
                quiet = lambda x: jnp.where(
                    pending.reshape(pending.shape + (1,) * (x.ndim - 1)), jnp.zeros_like(x), x
                )
                parts = {name: quiet(x) for name, x in parts.items()}
                parts["env_index"] = env_index
                shown = jnp.where(done[:, None], final, obs)
                out_obs = jnp.where(pending[:, None], last_obs, shown)
                new_obs = jnp.where(pending[:, None], last_obs, obs)
                new_pending = jnp.logical_and(done, jnp.logical_not(pending))
            else:
                out_obs, new_obs, new_pending = obs, obs, pending
                parts["final_obs"] = final
            parts["obs"] = out_obs
            return (key, new_state, new_obs, new_pending), layout.pack(parts)

        return jax.jit(reset), jax.jit(step)

    def _out(self, packed: jax.Array) -> tuple[Any, dict[str, Any]]:
        """Split the packed output into arrays (numpy: one device-to-host copy)."""
        dlpack = self._from_dlpack
        host = jax.device_get(packed) if dlpack is None else dlpack(packed)
        cols = {name: host[:, sl] for name, sl in self._layout.slices.items()}
        flat = lambda name: cols[name][:, 0]
        as_bool = lambda x: x > 0.5
        as_int = lambda x: x.round().astype(np.int32) if isinstance(x, np.ndarray) else x.int()
        parts = {
            "obs": cols["obs"],
            "reward": flat("reward"),
            "terminated": as_bool(flat("terminated")),
            "truncated": as_bool(flat("truncated")),
        }
        info = {
            "trial": as_int(flat("trial")),
            "trial_done": as_bool(flat("trial_done")),
            "trial_returns": cols["trial_returns"],
            "env_index": as_int(flat("env_index")),
        }
        if "final_obs" in cols:
            done = parts["terminated"] | parts["truncated"]
            info["final_obs"] = cols["final_obs"]
            info["_final_obs"] = done
        return parts, info

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start every sub-env (a fresh task each, or bank task ``i``); returns ``(obs, info)``.

        Raises:
            ValueError: a bank whose size is not ``num_envs`` or that is not of this task set.
        """
        options = dict(options or {})
        tasks = options.pop("tasks", None)
        if options:
            raise ValueError(
                f"reset: unknown options {sorted(options)}; the only option is "
                "'tasks' (a TaskBank of this task set)."
            )
        if tasks is None:
            self._venv = self._train_venv
        else:
            if not isinstance(tasks, TaskBank):
                raise ValueError(
                    f"reset: options['tasks'] must be a TaskBank (task_set.eval_tasks(per_env)), "
                    f"got {type(tasks).__name__}."
                )
            if len(tasks) != self.num_envs:
                raise ValueError(
                    f"reset: the bank has {len(tasks)} tasks for {self.num_envs} sub-envs; "
                    f"build one of num_envs tasks (eval_tasks(per_env) gives per_env x "
                    f"{len(self.task_set.envs)}) or make the env with that many sub-envs."
                )
            self._venv = VecEnv.from_bank(self.task_set, tasks)
        if seed is not None:
            self._key = jax.random.key(seed)
        self._key, key = jax.random.split(self._key)
        reset, _ = self._programs(self._venv)
        self._carry, packed = reset(key)
        parts, info = self._out(packed)
        info = {"env_index": info["env_index"]}
        return parts["obs"], info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """One step of every sub-env: ``(obs, rewards, terminations, truncations, info)``.

        Raises:
            RuntimeError: before ``reset``.
            ValueError: actions not of shape ``(num_envs, A)``, not floats, or not finite.
        """
        if self._carry is None:
            raise RuntimeError("step: call reset() first.")
        actions = _host_actions(
            actions, (self.num_envs, self.single_action_space.shape[0]), "GymnasiumVectorEnv"
        )
        _, step = self._programs(self._venv)
        self._carry, packed = step(self._carry, jax.device_put(actions))
        parts, info = self._out(packed)
        return parts["obs"], parts["reward"], parts["terminated"], parts["truncated"], info

    def close_extras(self, **kwargs: Any) -> None:
        self._carry = None


def to_gymnasium(
    task_set: TaskSet,
    num_envs: int,
    *,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    array: str | ArrayFn = "numpy",
    seed: int = 0,
) -> GymnasiumVectorEnv:
    """A Gymnasium vector env over ``VecEnv(task_set, num_envs)``: one episode = one task.

    Args:
        task_set: the task distribution (e.g. ``pe.benchmark("point-nav").train``).
        num_envs: sub-envs (slots), at least the number of envs of the set.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``SAME_STEP`` (or their
            names).
        array: ``"numpy"`` (one device-to-host copy per call), ``"torch"`` (tensors through
            DLPack on JAX's device) or any DLPack importer (e.g. ``np.from_dlpack``).
        seed: seed of the env's key stream (``reset(seed=...)`` replaces it).

    Raises:
        TypeError, ValueError: not a TaskSet, too few ``num_envs``, an unknown mode or array.
    """
    return GymnasiumVectorEnv(
        task_set, num_envs, autoreset_mode=autoreset_mode, array=array, seed=seed
    )


class GymnasiumEnv(gymnasium.Env):
    """One sub-env as a :class:`gymnasium.Env`, with garage-style ``sample_tasks`` /
    ``set_task``.

    An episode is one task of K trials. ``reset()`` runs the task given to :meth:`set_task`
    (or ``reset(options={"task": task})``); with none set, each ``reset`` draws a fresh task
    from the task set. ``info`` carries ``trial``, ``trial_done``, ``trial_returns`` and
    ``env_index`` as in :class:`GymnasiumVectorEnv`; observations and actions are numpy
    float32.

    Args:
        task_set: the task distribution.
        seed: seed of the env's key stream (``reset(seed=...)`` replaces it).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, task_set: TaskSet, seed: int = 0):
        if not isinstance(task_set, TaskSet):
            raise TypeError(f"GymnasiumEnv: expected a TaskSet, got {type(task_set).__name__}.")
        self.task_set = task_set
        self.observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, (task_set.obs_size,), np.float32
        )
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (task_set.action_size,), np.float32)
        self._key = jax.random.key(seed)
        self._task: dict[str, Any] | None = None
        self._current: dict[str, Any] | None = None
        self._state: Any = None
        self._compiled: dict[int, tuple[Callable, Callable]] = {}

    def _programs(self, index: int) -> tuple[Callable, Callable]:
        """The jitted ``reset`` and ``step`` of env ``index`` of the set (built once each)."""
        if index not in self._compiled:
            self._compiled[index] = self._build(index)
        return self._compiled[index]

    def _build(self, index: int) -> tuple[Callable, Callable]:
        env: Environment = self.task_set.make_env(index)

        def reset(key: jax.Array, task: Any) -> tuple[Any, jax.Array]:
            obs, state = env.reset(key, task)
            return state, obs

        def step(key: jax.Array, state: Any, action: jax.Array, task: Any) -> tuple[Any, Any]:
            obs, state, reward, term, trunc, info = env.transition(key, state, action, task)
            row = [
                obs,
                jnp.stack([reward, term, trunc, info["trial"], info["trial_done"]]),
                info["trial_returns"],
            ]
            return state, jnp.concatenate([jnp.asarray(x, jnp.float32).ravel() for x in row])

        return jax.jit(reset), jax.jit(step)

    def sample_tasks(self, n: int) -> list[dict[str, Any]]:
        """``n`` training tasks of the set (split among its envs by their weights).

        Returns:
            A list of dicts ``{"env_index", "env_id", "params"}`` (params: the stack's task
            pytree) to pass to :meth:`set_task`.
        """
        self._key, key = jax.random.split(self._key)
        return self._unbank(self.task_set.sample(key, int(n)))

    @staticmethod
    def _unbank(bank: TaskBank) -> list[dict[str, Any]]:
        tasks = []
        for params, env_id, index, size in zip(
            bank.params, bank.env_ids, bank.env_indices, bank.sizes
        ):
            for j in range(size):
                one = jax.tree.map(lambda x, j=j: x[j], params)
                tasks.append({"env_index": index, "env_id": env_id, "params": one})
        return tasks

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Run ``task`` (from :meth:`sample_tasks`) from the next ``reset`` on.

        Raises:
            ValueError: not a task of this set.
        """
        if not (isinstance(task, Mapping) and {"env_index", "params"} <= set(task)):
            raise ValueError(
                "set_task: expected a task from sample_tasks(n): a dict with 'env_index' and "
                f"'params'; got {type(task).__name__}."
            )
        index = int(task["env_index"])
        self.task_set._check_index(index)
        want = jax.eval_shape(self.task_set.make_env(index).sample_task, jax.random.key(0))
        if jax.tree.structure(want) != jax.tree.structure(task["params"]):
            raise ValueError("set_task: the task's params do not fit this task set's env stack.")
        self._task = dict(task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start the set task (``options={"task": task}`` sets one), or a freshly drawn one."""
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        if options and "task" in options:
            self.set_task(options["task"])
        task = self._task if self._task is not None else self.sample_tasks(1)[0]
        self._current = task
        self._key, key = jax.random.split(self._key)
        reset, _ = self._programs(task["env_index"])
        self._state, obs = reset(key, task["params"])
        return jax.device_get(obs), {"env_index": task["env_index"]}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step: ``(obs, reward, terminated, truncated, info)``; ``terminated``: task end.

        Raises:
            RuntimeError: before ``reset`` or after the task ended.
            ValueError: an action not of shape ``(A,)``, not floats, or not finite.
        """
        if self._state is None or self._current is None:
            raise RuntimeError("step: call reset() first (and again after the task ends).")
        action = _host_actions(action, self.action_space.shape, "GymnasiumEnv")
        self._key, key = jax.random.split(self._key)
        _, step = self._programs(self._current["env_index"])
        task = self._current["params"]
        self._state, packed = step(key, self._state, jax.device_put(action), task)
        row = jax.device_get(packed)
        o = self.task_set.obs_size
        reward, term, trunc, trial, trial_done = row[o : o + 5]
        obs = row[:o]
        if term or trunc:
            self._state = None
        info = {
            "trial": round(float(trial)),
            "trial_done": bool(trial_done > 0.5),
            "trial_returns": row[o + 5 :],
            "env_index": self._current["env_index"],
        }
        return obs, float(reward), bool(term > 0.5), bool(trunc > 0.5), info
