"""Speed of VecEnv against its baselines, measured in the same run.

Three ratios of env steps per second (one step = one slot advanced once), each over a baseline
timed in this process on the same device:

* ``vec_vs_ideal``: the VecEnv over the *ideal*, i.e. each group run alone (its env stack
  ``vmap``-ed over its slots, ``step`` with auto-reset, in its own ``scan``) and the times
  summed: the groups run back to back in one program, which is timed as a whole (summing
  separately timed best-of-n minima would bias the ideal low). Goal >= 0.9: the grouping,
  concatenation and task resampling cost (almost) nothing.
* ``vec_vs_switch``: the VecEnv over a naive batch in which every slot holds a state for every
  env and steps with ``lax.switch(env_index, ...)``; under ``vmap`` every branch runs, so
  expect about the number of envs K.
* ``stack_vs_base``: the full wrapper stack (Normalize, projections, MetaEpisode) over the bare
  base env from ``make()``, each ``vmap``-ed over ``num_envs`` slots and summed over the envs
  of the set. Goal >= 0.9. Both draw random actions of the same width (the stack's action
  size; the base env steps with the first ones and the rest are summed in), so the ratio
  measures the envs, not the random number generator.

Every rollout is one jitted ``lax.scan`` of ``--steps`` steps with uniform random actions drawn
inside (after a reset that samples the tasks); all are compiled first, then timed in
``--repeats`` interleaved rounds and the best time of each is kept. The clock is this
process's CPU time by default, which is robust to other processes on a shared machine;
``--clock wall`` measures wall time.

Usage: ``python speed/vec_env.py --benchmark classic --num-envs 256 --steps 200``. The
last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from projected_envs.benchmark_registry import benchmark
from projected_envs.core import Environment
from projected_envs.registry import make
from projected_envs.tasks import TaskSet
from projected_envs.vec import VecEnv

CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = CLOCK["cpu"]


def set_clock(name: str) -> None:
    """Time the rollouts of :func:`time_all` with ``CLOCK[name]`` ("cpu" or "wall")."""
    global _clock
    _clock = CLOCK[name]


def time_all(fns: dict[str, Callable[[jax.Array], Any]], repeats: int) -> dict[str, float]:
    """Best time in seconds of each rollout: compile all, then ``repeats`` interleaved rounds.

    Each round calls every rollout once, so slow drifts of a shared machine's load affect all
    of them alike. The clock is process CPU time by default (``--clock cpu``): on a shared
    machine it counts the work of this process only, where wall time also counts waiting.
    """
    for fn in fns.values():
        jax.block_until_ready(fn(jax.random.key(0)))
    best = dict.fromkeys(fns, float("inf"))
    for r in range(repeats):
        for name, fn in fns.items():
            start = _clock()
            jax.block_until_ready(fn(jax.random.key(r + 1)))
            best[name] = min(best[name], _clock() - start)
    return best


def vec_rollout(venv: VecEnv, steps: int) -> Callable[[jax.Array], jax.Array]:
    """Jitted: reset the VecEnv, then ``steps`` steps with random actions; returns the sum of
    rewards and observations (so that nothing is dead code)."""

    def run(key: jax.Array) -> jax.Array:
        key, k_reset = jax.random.split(key)
        _, state = venv.reset(k_reset)

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.random.uniform(k_act, (venv.num_envs, venv.action_size), minval=-1)
            obs, state, reward, *_ = venv.step(k_step, state, actions)
            return (state, total + reward.sum() + obs.sum()), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(run)


def _env_run(
    env: Environment,
    num: int,
    steps: int,
    sample: Callable[[jax.Array], Any] | None,
    width: int | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """Unjitted body of :func:`env_rollout`."""
    size = env.action_size
    width = size if width is None else max(width, size)

    def run(key: jax.Array) -> jax.Array:
        key, k_task, k_reset = jax.random.split(key, 3)
        if sample is None:
            params = jax.tree.map(
                lambda x: jnp.broadcast_to(jnp.asarray(x), (num, *jnp.shape(x))),
                env.default_params,
            )
        else:
            params = jax.vmap(sample)(jax.random.split(k_task, num))
        _, state = jax.vmap(env.reset)(jax.random.split(k_reset, num), params)

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            drawn = jax.random.uniform(k_act, (num, width), minval=-1)
            obs, state, reward, *_ = jax.vmap(env.step)(
                jax.random.split(k_step, num), state, drawn[:, :size], params
            )
            unused = drawn[:, size:].sum()  # keeps the draws of a narrower env alive
            return (state, total + reward.sum() + obs.sum() + unused), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return run


def env_rollout(
    env: Environment,
    num: int,
    steps: int,
    sample: Callable[[jax.Array], Any] | None,
    width: int | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """Jitted: ``num`` copies of ``env`` (tasks from ``sample``, else default params), ``vmap``-ed
    ``env.step`` for ``steps`` steps with random actions (``width`` drawn per slot, default the
    env's action size; the env uses the first ones); returns the sum of rewards and
    observations (and of any unused draws)."""
    return jax.jit(_env_run(env, num, steps, sample, width))


def ideal_rollout(task_set: TaskSet, venv: VecEnv, steps: int) -> Callable[[jax.Array], Any]:
    """Jitted ideal: each group of ``venv`` as its own rollout (its env stack ``vmap``-ed over its
    slots, its own ``scan``), run one after the other in one program; the total of their times
    is the time of this program."""
    runs = [
        _env_run(task_set.make_env(i), size, steps, lambda k, i=i: task_set.sample_task(i, k))
        for i, size in enumerate(venv.group_sizes)
        if size > 0
    ]

    def run(key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, len(runs))
        return sum(r(k) for r, k in zip(runs, keys))

    return jax.jit(run)


def switch_rollout(task_set: TaskSet, venv: VecEnv, steps: int) -> Callable[[jax.Array], Any]:
    """Jitted naive baseline: every slot carries a state and a task of *every* env and steps
    its own env with ``lax.switch(env_index[slot], ...)``, ``vmap``-ed over the slots."""
    envs = [task_set.make_env(i) for i in range(len(task_set.envs))]
    env_index = jnp.asarray(venv.env_index)
    n = venv.num_envs

    def slot_init(key):
        keys = jax.random.split(key, 2 * len(envs))
        tasks = tuple(task_set.sample_task(i, keys[2 * i]) for i in range(len(envs)))
        states = tuple(
            env.reset(keys[2 * i + 1], t)[1] for i, (env, t) in enumerate(zip(envs, tasks))
        )
        return states, tasks

    def slot_step(index, key, states, tasks, action):
        def branch(i):
            def f(states):
                obs, s, r, term, trunc, _ = envs[i].step(key, states[i], action, tasks[i])
                return (*states[:i], s, *states[i + 1 :]), obs, r, term, trunc

            return f

        return jax.lax.switch(index, [branch(i) for i in range(len(envs))], states)

    def run(key):
        key, k_init = jax.random.split(key)
        states, tasks = jax.vmap(slot_init)(jax.random.split(k_init, n))

        def body(carry, k):
            states, total = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.random.uniform(k_act, (n, venv.action_size), minval=-1)
            states, obs, reward, _, _ = jax.vmap(slot_step)(
                env_index, jax.random.split(k_step, n), states, tasks, actions
            )
            return (states, total + reward.sum() + obs.sum()), None

        (_, total), _ = jax.lax.scan(body, (states, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="classic")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=sorted(CLOCK), default="cpu")
    parser.add_argument(
        "--stack-only", action="store_true", help="only stack_vs_base (for costly envs on CPU)"
    )
    args = parser.parse_args()
    set_clock(args.clock)

    task_set = benchmark(args.benchmark).train
    venv = VecEnv(task_set, args.num_envs)
    n, steps = venv.num_envs, args.steps
    total_steps = n * steps

    fns = {}
    if not args.stack_only:
        fns["vec"] = vec_rollout(venv, steps)
        fns["ideal"] = ideal_rollout(task_set, venv, steps)
        fns["switch"] = switch_rollout(task_set, venv, steps)
    for i, env_id in enumerate(task_set.envs):
        sample = lambda k, i=i: task_set.sample_task(i, k)
        stack = task_set.make_env(i)
        base, _ = make(env_id, **dict(task_set.kwargs_for(env_id)))
        fns["stack " + env_id] = env_rollout(stack, n, steps, sample)
        # the base env also gets its task as runtime data (as the stack's inner task is), not
        # as constants XLA could fold into the step
        fns["base " + env_id] = env_rollout(base, n, steps, base.sample_task, stack.action_size)
    t = time_all(fns, args.repeats)
    nan = float("nan")
    t_vec, t_ideal, t_switch = (t.get(k, nan) for k in ("vec", "ideal", "switch"))
    t_stack = {e: t["stack " + e] for e in task_set.envs}
    t_base = {e: t["base " + e] for e in task_set.envs}

    sps = lambda t, count=total_steps: count / t
    print(
        f"{args.benchmark}: {len(task_set.envs)} envs, N={n}, {steps} steps, "
        f"device={jax.devices()[0].device_kind}, clock={args.clock}, best of {args.repeats}"
    )
    print(f"{'rollout':<44}{'steps/s':>14}")
    if not args.stack_only:
        print(f"{'VecEnv':<44}{sps(t_vec):>14,.0f}")
        print(f"{'ideal (each group alone, back to back)':<44}{sps(t_ideal):>14,.0f}")
        print(f"{'naive lax.switch per slot':<44}{sps(t_switch):>14,.0f}")
    for env_id in task_set.envs:
        print(
            f"{'stack / base  ' + env_id:<44}{sps(t_stack[env_id], n * steps):>14,.0f}"
            f" / {sps(t_base[env_id], n * steps):,.0f}"
        )
    result = {
        "benchmark": args.benchmark,
        "num_envs": n,
        "steps": steps,
        "num_base_envs": len(task_set.envs),
        "device": str(jax.devices()[0].device_kind),
        "clock": args.clock,
        "vec_steps_per_s": sps(t_vec),
        "ideal_steps_per_s": sps(t_ideal),
        "switch_steps_per_s": sps(t_switch),
        "vec_vs_ideal": t_ideal / t_vec,
        "vec_vs_switch": t_switch / t_vec,
        "stack_vs_base": sum(t_base.values()) / sum(t_stack.values()),
        "stack_vs_base_per_env": {e: t_base[e] / t_stack[e] for e in task_set.envs},
    }
    # steps/s and ratios of rollouts not run (--stack-only) are null, not NaN (invalid JSON)
    print(json.dumps({k: None if v != v else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
