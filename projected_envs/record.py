"""Trajectories per trial for pictures and frames: what a policy does in a task.

:func:`record` runs a policy (the :class:`~projected_envs.Policy` protocol of
:func:`~projected_envs.evaluate_policy`) on a bank of tasks inside one ``jit`` and keeps, for
every step of each task's first meta-episode, the **base env's state** (under every wrapper),
the observation, the action and the reward, with the trial each step belongs to.
:func:`plot_paths` draws 2-D paths per trial (point-nav: trials 1..K and the hidden goal);
:func:`render_frames` turns a task's states into RGB frames with a renderer that needs no
display (gymnax's visualiser for the gymnax envs it draws; MuJoCo's renderer, headless through
EGL or OSMesa, for brax and Playground envs), and :func:`save_gif` writes them with Pillow
(the optional ``render`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.core import Environment, Wrapper
from projected_envs.tasks import TaskBank, TaskSet

__all__ = [
    "Trajectory",
    "base_params",
    "base_state",
    "plot_paths",
    "record",
    "render_frames",
    "save_gif",
]


class Trajectory(NamedTuple):
    """What :func:`record` keeps for the tasks of one base env (numpy, host).

    ``T`` tasks, ``S`` steps (the scan length); entry ``[i, t]`` is the step ``t`` of task
    ``i``: the state and observation the policy saw, the action it took (clipped to
    ``[-1, 1]``) and the reward it got. Steps after the task's first meta-episode ended have
    ``valid`` False.
    """

    env_id: str  # the base env, e.g. "gymnax/PointRobot-misc"
    env: Environment  # the task set's env stack that ran (task_set.make_env(env_index))
    env_index: int  # its index in the task set
    tasks: Any  # the stack's task params, leading axis [T]
    states: Any  # base-env states before each step, leaves [T, S, ...]
    obs: np.ndarray  # float32 [T, S, O]
    actions: np.ndarray  # float32 [T, S, A]
    rewards: np.ndarray  # float32 [T, S]
    trial: np.ndarray  # int32 [T, S]: trial (0..K-1) of each step
    valid: np.ndarray  # bool [T, S]: the step belongs to the first meta-episode

    @property
    def num_trials(self) -> int:
        """K: one more than the largest trial index recorded."""
        return int(self.trial.max()) + 1

    def trial_returns(self) -> np.ndarray:
        """float32 ``[T, K]``: the return of each trial (valid steps only)."""
        hit = (self.trial[..., None] == np.arange(self.num_trials)) & self.valid[..., None]
        return np.sum(np.where(hit, self.rewards[..., None], 0.0), axis=1).astype(np.float32)

    def states_of(self, task: int, trial: int | None = None) -> list[Any]:
        """The base-env states of one task (one trial of it, or all), one per step."""
        steps = (
            self.valid[task] if trial is None else self.valid[task] & (self.trial[task] == trial)
        )
        return [jax.tree.map(lambda x, t=t: x[task, t], self.states) for t in np.flatnonzero(steps)]


def _layers(env: Environment) -> list[Environment]:
    layers = [env]
    while isinstance(layers[-1], Wrapper):
        layers.append(layers[-1].env)
    return layers


def base_state(env: Environment, state: Any) -> Any:
    """The base env's state inside a stack's ``state`` (MetaEpisode keeps it in ``.inner``;
    the projection, Normalize and FiniteGuard wrappers share their inner env's state)."""
    from projected_envs.wrappers import MetaEpisode

    for layer in _layers(env):
        if isinstance(layer, MetaEpisode):
            state = state.inner
    return state


def base_params(env: Environment, params: Any) -> Any:
    """The base env's task inside a stack's ``params`` (each projection wrapper keeps its
    inner env's params in ``.inner``; the other wrappers pass params through)."""
    from projected_envs.wrappers import ProjectAction, ProjectObservation

    for layer in _layers(env):
        if isinstance(layer, ProjectObservation | ProjectAction):
            params = params.inner
    return params


def _run(
    env: Environment,
    policy: Any,
    tasks: Any,
    key: jax.Array,
    num_tasks: int,
    num_actions: int,
    steps: int,
) -> tuple[Any, ...]:
    """The scan of :func:`record` for one env: ``steps`` steps of ``num_tasks`` tasks."""
    key, k_reset = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, num_tasks), tasks)
    carry = policy.init(num_tasks)
    reset = jnp.ones((num_tasks,), bool)
    finished = jnp.zeros((num_tasks,), bool)
    trial_of = lambda s: getattr(s, "trial", jnp.zeros((num_tasks,), jnp.int32))

    def body(c: tuple[Any, ...], _: None) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        key, state, obs, reset, carry, finished = c
        key, k_act, k_env = jax.random.split(key, 3)
        carry, action = policy.step(carry, obs, reset, k_act)
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        if action.shape != (num_tasks, num_actions):
            raise ValueError(
                f"record: policy.step returned actions of shape {action.shape}, expected "
                f"({num_tasks}, {num_actions})."
            )
        keys = jax.random.split(k_env, num_tasks)
        new_obs, new_state, reward, term, trunc, _ = jax.vmap(env.step)(keys, state, action, tasks)
        done = jnp.logical_or(term, trunc)
        out = (
            base_state(env, state),
            obs,
            action,
            reward.astype(jnp.float32),
            jnp.asarray(trial_of(state), jnp.int32),
            jnp.logical_not(finished),
        )
        return (key, new_state, new_obs, done, carry, jnp.logical_or(finished, done)), out

    init = (key, state, obs, reset, carry, finished)
    _, outs = jax.lax.scan(body, init, None, length=steps)
    # [S, T, ...] -> [T, S, ...]
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), outs)


def record(
    policy: Any,
    tasks: TaskSet | TaskBank,
    key: jax.Array,
    *,
    task_set: TaskSet | None = None,
    per_env: int = 4,
    num_trials: int | None = None,
    max_steps: int | None = None,
) -> tuple[Trajectory, ...]:
    """Run ``policy`` on a bank of tasks and keep every step of their first meta-episode.

    Each task starts from a fresh carry (``policy.init``, ``reset=True`` on its first
    observation), as in :func:`~projected_envs.evaluate_policy`; one jitted scan per base env.

    Args:
        policy: a :class:`~projected_envs.Policy` (``init(n)``, ``step(carry, obs, reset, key)``).
        tasks: a TaskSet (its evaluation bank ``eval_tasks(per_env)``) or a
            :class:`~projected_envs.TaskBank` (then give ``task_set``, the set it belongs to).
        key: PRNG key of the resets, the policy's noise and the env.
        task_set: the bank's task set (only with a TaskBank).
        per_env: tasks per env of the evaluation bank (only with a TaskSet).
        num_trials: trials per task (default: the set's K).
        max_steps: steps to scan; default K times the env's time limit (every task ends).

    Returns:
        One :class:`Trajectory` per base env of the bank, in bank order.

    Raises:
        ValueError: a TaskBank without ``task_set``, or an env without a known time limit and
            no ``max_steps``.
    """
    if isinstance(tasks, TaskSet):
        task_set = tasks if task_set is None else task_set
        bank = tasks.eval_tasks(per_env)
    elif isinstance(tasks, TaskBank):
        if task_set is None:
            raise ValueError(
                "record: a TaskBank does not name its task set; pass task_set=the set it was "
                "built from (e.g. record(policy, bank, key, task_set=bench.id_test))."
            )
        bank = tasks
    else:
        raise TypeError(f"record: tasks must be a TaskSet or TaskBank, got {type(tasks).__name__}.")
    if num_trials is not None and num_trials != task_set.num_trials:
        import dataclasses

        task_set = dataclasses.replace(task_set, num_trials=int(num_trials))
    # the policy's arrays are traced, everything else (functions, static fields) closed over
    leaves, treedef = jax.tree.flatten(policy)
    arrays = [x if isinstance(x, jax.Array | np.ndarray) else None for x in leaves]
    static = [None if isinstance(x, jax.Array | np.ndarray) else x for x in leaves]
    out = []
    for params, env_id, index, size in zip(bank.params, bank.env_ids, bank.env_indices, bank.sizes):
        env = task_set.make_env(index)
        steps = max_steps
        if steps is None:
            trial = task_set.max_trial_steps(index)
            if trial is None:
                raise ValueError(f"record: {env_id} has no time limit; pass max_steps.")
            steps = task_set.num_trials * trial

        def run(arrays: list[Any], params: Any, key: jax.Array, env=env, size=size, steps=steps):
            joined = [a if s is None else s for a, s in zip(arrays, static)]
            pol = jax.tree.unflatten(treedef, joined)
            return _run(env, pol, params, key, size, task_set.action_size, int(steps))

        states, obs, actions, rewards, trial, valid = jax.device_get(
            jax.jit(run)(arrays, params, jax.random.fold_in(key, index))
        )
        out.append(
            Trajectory(
                env_id=env_id,
                env=env,
                env_index=int(index),
                tasks=jax.device_get(params),
                states=states,
                obs=np.asarray(obs),
                actions=np.asarray(actions),
                rewards=np.asarray(rewards),
                trial=np.asarray(trial),
                valid=np.asarray(valid),
            )
        )
    return tuple(out)


# ------------------------------------------------------------------------------ pictures
def goal_of(trajectory: Trajectory, task: int) -> np.ndarray | None:
    """The hidden goal of a goal env's task (``[2]``), or None where the task has none."""
    state = jax.tree.map(lambda x: x[task, 0], trajectory.states)
    goal = getattr(state, "goal", None)
    return None if goal is None else np.asarray(goal)


def plot_paths(
    trajectory: Trajectory,
    tasks: Sequence[int] = (0, 1, 2),
    *,
    axes: Sequence[Any] | None = None,
    title: str | None = None,
    goal_radius: float | None = None,
) -> Any:
    """Draw the 2-D path (``state.pos``) of every trial of a few tasks, goal marked.

    For envs whose base state has ``pos`` ``[2]`` (gymnax PointRobot-misc, point-nav); one
    panel per task, trials 1..K coloured from light to dark, the start as a dot, the goal as
    a star with its radius (``goal_radius``: the base params' when None).

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: the base state has no ``pos``.
    """
    import matplotlib.pyplot as plt

    first = jax.tree.map(lambda x: x[0, 0], trajectory.states)
    if not hasattr(first, "pos"):
        raise ValueError(
            f"plot_paths: the states of {trajectory.env_id} have no 2-D 'pos'; paths are drawn "
            "for point-robot envs (e.g. benchmark 'point-nav'). Use render_frames for others."
        )
    tasks = list(tasks)
    if axes is None:
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.0), squeeze=False)
        axes = list(axes[0])
    fig = axes[0].figure
    k = trajectory.num_trials
    colors = plt.cm.viridis(np.linspace(0.85, 0.1, k))
    radius = goal_radius
    if radius is None:
        params = base_params_of(trajectory)
        radius = getattr(params, "goal_radius", None)
    for ax, task in zip(axes, tasks):
        arc = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(arc), np.sin(arc), color="0.85", lw=0.8)
        for trial in range(k):
            sel = trajectory.valid[task] & (trajectory.trial[task] == trial)
            pos = np.asarray(trajectory.states.pos[task][sel])
            if len(pos):
                ax.plot(
                    pos[:, 0], pos[:, 1], color=colors[trial], lw=1.2, label=f"trial {trial + 1}"
                )
                ax.plot(pos[0, 0], pos[0, 1], "o", color=colors[trial], ms=3)
        goal = goal_of(trajectory, task)
        if goal is not None:
            ax.plot(goal[0], goal[1], "*", color="crimson", ms=12, label="goal")
            if radius is not None:
                r = float(np.asarray(radius).reshape(-1)[task if np.size(radius) > 1 else 0])
                ax.add_patch(plt.Circle(tuple(goal), r, color="crimson", alpha=0.12))
        ret = trajectory.trial_returns()[task]
        ax.set_title(f"task {task}: " + " ".join(f"{r:.1f}" for r in ret), fontsize=8)
        ax.set_aspect("equal")
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=6, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def base_params_of(trajectory: Trajectory) -> Any:
    """The base env's params of the recorded tasks (leading axis ``[T]``)."""
    return base_params(trajectory.env, trajectory.tasks)


def _gymnax_frames(base: Any, states: list[Any], params: Any) -> list[np.ndarray]:
    import matplotlib
    from gymnax.visualize.visualizer import Visualizer

    gymnax_params = getattr(params, "env", params)  # GoalParams hold gymnax's in .env
    backend = matplotlib.get_backend()
    matplotlib.use("Agg")  # no display needed
    try:
        vis = Visualizer(base._env, gymnax_params, states)
        frames = []
        vis.init()
        for t in range(len(states)):
            vis.update(t)
            vis.fig.canvas.draw()
            frames.append(np.asarray(vis.fig.canvas.buffer_rgba())[..., :3].copy())
        import matplotlib.pyplot as plt

        plt.close(vis.fig)
    finally:
        matplotlib.use(backend)
    return frames


def _mujoco_model_and_qpos(base: Any, states: list[Any]) -> tuple[Any, list[np.ndarray]]:
    raw = base._raw
    model = getattr(raw, "mj_model", None)
    if model is None:
        model = getattr(getattr(raw, "sys", None), "mj_model", None)
    qpos = []
    for state in states:
        inner = getattr(state, "inner", state)
        physics = getattr(inner, "data", None) or getattr(inner, "pipeline_state", None)
        q = getattr(physics, "qpos", None)
        if q is None:
            q = getattr(physics, "q", None)
        qpos.append(None if q is None else np.asarray(q))
    if model is None or any(q is None for q in qpos):
        raise NotImplementedError(f"render_frames: no MuJoCo model / qpos found in {base.name}.")
    return model, qpos


def mujoco_frames(
    model: Any, qpos: Sequence[np.ndarray], width: int = 240, height: int = 240
) -> list[np.ndarray]:
    """RGB frames (uint8 ``[H, W, 3]``) of a MuJoCo model at each ``qpos``, rendered headless.

    Uses ``MUJOCO_GL=egl`` unless ``MUJOCO_GL`` is set (``osmesa`` is the software fallback).

    Raises:
        RuntimeError: no headless OpenGL backend; names the variables and packages to set up.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco

    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as err:
        raise RuntimeError(
            f"render_frames: MuJoCo could not open a headless OpenGL context with "
            f"MUJOCO_GL={os.environ['MUJOCO_GL']!r} ({err}). Set MUJOCO_GL=egl (GPU or Mesa "
            "EGL: apt-get install libegl1) or MUJOCO_GL=osmesa (software: apt-get install "
            "libosmesa6) before importing mujoco."
        ) from err
    data = mujoco.MjData(model)
    frames = []
    try:
        for q in qpos:
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            renderer.update_scene(data)
            frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return frames


def render_frames(
    trajectory: Trajectory, task: int = 0, trial: int | None = None, **size: int
) -> list[np.ndarray]:
    """RGB frames (uint8 ``[H, W, 3]``) of one recorded task (one trial of it, or all).

    gymnax envs that gymnax's visualiser draws (PointRobot-misc, Pendulum-v1,
    MountainCarContinuous-v0, ...) are drawn with it on matplotlib's Agg canvas; brax and
    Playground envs with MuJoCo's renderer (headless: EGL or OSMesa, ``size``: ``width``,
    ``height``).

    Raises:
        NotImplementedError: an env no renderer here can draw (names the ones that can).
        RuntimeError: MuJoCo without a headless OpenGL backend (names how to get one).
    """
    env = trajectory.env.unwrapped if isinstance(trajectory.env, Wrapper) else trajectory.env
    states = trajectory.states_of(task, trial)
    params = jax.tree.map(lambda x: x[task], base_params_of(trajectory))
    if hasattr(env, "_env") and trajectory.env_id.startswith("gymnax/"):
        from gymnax.visualize import visualizer

        supported = _gymnax_visualised(visualizer)
        if env._env.name in supported:
            return _gymnax_frames(env, states, params)
        raise NotImplementedError(
            f"render_frames: gymnax's visualiser does not draw {env._env.name}; it draws "
            f"{sorted(supported)}. Use plot_paths or the recorded states."
        )
    if hasattr(env, "_raw"):
        model, qpos = _mujoco_model_and_qpos(env, states)
        return mujoco_frames(model, qpos, **size)
    raise NotImplementedError(
        f"render_frames: no renderer for {trajectory.env_id}: gymnax envs use gymnax's "
        "visualiser, brax and dmc envs MuJoCo's renderer."
    )


def _gymnax_visualised(visualizer: Any) -> set[str]:
    import inspect

    text = inspect.getsource(visualizer.Visualizer.init)
    return {name for name in _GYMNAX_DRAWN if f'"{name}"' in text}


_GYMNAX_DRAWN = (
    "Acrobot-v1",
    "CartPole-v1",
    "Pendulum-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "PointRobot-misc",
    "Catch-bsuite",
    "MetaMaze-misc",
    "FourRooms-misc",
)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 20) -> Path:
    """Write RGB frames as a looping GIF with Pillow (``pip install "projected-envs[render]"``).

    Raises:
        ImportError: Pillow is missing (names the extra).
        ValueError: no frames.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            'save_gif needs Pillow: pip install "projected-envs[render]" (or pip install pillow).'
        ) from None
    if not frames:
        raise ValueError("save_gif: no frames to write.")
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=max(1, 1000 // fps), loop=0
    )
    return path
