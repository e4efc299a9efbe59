"""Data parallelism for PPO on JAX's own engine: one mesh axis over devices, env slots split.

Layout (``jax.sharding``, no ``pmap``):

* a 1-D :class:`~jax.sharding.Mesh` over every device of the job (all hosts), axis ``"envs"``;
* the env-batched parts of a :class:`~agents.ppo.RunnerState` (env state, obs, done, hidden,
  task returns; every leaf has the slot axis ``B`` first, or second after a seed axis ``S``)
  are split along ``B``; params, optimizer state, keys and counters are replicated;
* the jitted update is then partitioned by XLA (GSPMD): each device steps its own slots, and
  the gradient of the minibatch loss is reduced across devices by the compiler. The numbers
  equal the one-device run up to float reduction order.

Every env of the task set must put the same number of slots on each device (the VecEnv keeps
one group of slots per env, with the group as its leading axis), so :func:`check_env_split`
refuses a ``num_envs`` whose groups do not divide by the device count, naming valid values.

Multi-host: after :func:`jax.distributed.initialize` (``examples/multihost.py``),
``jax.devices()`` lists the devices of every process, the mesh spans them, and the same code
runs on each process (single program, multiple data); :func:`place` and :func:`host_copy`
move values between host memory and such global arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from agents.ppo import RunnerState
from projected_envs.tasks import TaskSet

__all__ = [
    "AXIS",
    "check_env_split",
    "env_mesh",
    "host_copy",
    "place",
    "runner_shardings",
    "valid_num_envs",
]

AXIS = "envs"  # the mesh axis the env slots are split along


def env_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"envs"`` over ``devices`` (default: every device of the job)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def valid_num_envs(task_set: TaskSet, num_devices: int, count: int = 6) -> list[int]:
    """The smallest ``count`` values of ``num_envs`` whose per-env groups split evenly."""
    out, n = [], num_devices
    while len(out) < count and n <= 4096 * num_devices:
        if all(size % num_devices == 0 for size in task_set.group_sizes(n)):
            out.append(n)
        n += num_devices
    return out


def check_env_split(task_set: TaskSet, num_envs: int, num_devices: int) -> None:
    """Refuse a ``num_envs`` whose slots do not split evenly over ``num_devices`` devices.

    Raises:
        ValueError: some env's group of slots is not a multiple of ``num_devices``; the message
            names the group sizes and valid ``num_envs``.
    """
    sizes = task_set.group_sizes(num_envs)
    if all(size % num_devices == 0 for size in sizes):
        return
    raise ValueError(
        f"num_envs={num_envs} does not split evenly over {num_devices} devices: the slots per "
        f"env are {list(sizes)} (envs {list(task_set.envs)}), and each must be a multiple of "
        f"{num_devices}. Valid num_envs: {valid_num_envs(task_set, num_devices)} (or run on "
        "fewer devices, e.g. CUDA_VISIBLE_DEVICES)."
    )


def runner_shardings(state: RunnerState, mesh: Mesh, seed_axis: bool = False) -> RunnerState:
    """The sharding of every leaf of ``state``: env-batched leaves split, the rest replicated.

    Args:
        state: a runner state (or its abstract shapes); leaves ``[B, ...]``, or ``[S, B, ...]``
            with ``seed_axis``.
        mesh: from :func:`env_mesh`.
        seed_axis: leaves have a leading seed axis (``--num-seeds``), kept whole on every device.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec(None, AXIS) if seed_axis else PartitionSpec(AXIS))
    axis = 1 if seed_axis else 0

    def batched(x: Any) -> NamedSharding:
        if x.ndim <= axis or x.shape[axis] % mesh.size != 0:
            raise ValueError(
                f"runner_shardings: an env-batched leaf of shape {tuple(x.shape)} cannot be split "
                f"along axis {axis} over {mesh.size} devices; check num_envs (check_env_split)."
            )
        return split

    env_part = (state.env_state, state.obs, state.done, state.hidden, state.task_return)
    env_state, obs, done, hidden, task_return = jax.tree.map(batched, env_part)
    rest = jax.tree.map(lambda _: replicated, (state.train_state, state.key, state.update))
    return RunnerState(rest[0], env_state, obs, done, hidden, task_return, rest[1], rest[2])


def place(tree: Any, shardings: Any) -> Any:
    """Put a pytree (the same values on every process) onto the devices with ``shardings``.

    One process: ``jax.device_put``. Several processes: each builds the shards of its own
    devices from its host copy (:func:`jax.make_array_from_callback`).
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)
    host = jax.device_get(tree)

    def one(x: Any, sharding: NamedSharding) -> jax.Array:
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(one, host, shardings)


def host_copy(tree: Any) -> Any:
    """A numpy copy of a pytree of (possibly multi-process) arrays, the same on every process."""

    def one(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)
