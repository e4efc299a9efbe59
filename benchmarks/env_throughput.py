"""Env steps per second of our adapters against the raw backend env, in the same process.

For each env: a batch of ``--batch`` envs (``vmap``), one jitted ``lax.scan`` of ``--steps``
steps with uniform random actions in ``[-1, 1]`` drawn inside the scan, started from a reset
batch. Two rollouts are timed:

* ``raw``: the backend env with none of our code: gymnax's own ``env.step`` (which
  auto-resets), brax's raw ``env.step``, Playground's raw ``env.step`` (neither brax nor
  Playground auto-resets here, and neither has a time limit);
* ``ours``: ``projected_envs.make(env_id)``'s ``step``: action check / clip / scaling, time
  limit, flags, and the auto-reset to a fresh initial state, computed on the steps where some
  env of the batch ended its episode (``core.reset_where``);
* ``no reset`` (reported as a ratio): our ``transition``, i.e. the same without auto-reset, to
  separate the adapter's own cost from the cost of fresh resets;
* ``vs brax`` (brax envs, reported as a ratio): ours over the raw env under brax's own
  training wrappers (``EpisodeWrapper`` with our time limit, then ``AutoResetWrapper``),
  the auto-reset brax users know. It restores a cached first state instead of drawing a
  fresh one, so it does less work than ours; the ratio is the price of fresh resets.

Every rollout sums rewards *and* observations (with rewards only, XLA removes the physics of
envs with a constant reward, e.g. brax's inverted_pendulum). Each rollout is compiled once
(not timed), then they are timed alternately ``--repeats`` times; the median is kept.
``ratio = ours / raw`` (goal >= 0.95).

Usage::

    python benchmarks/env_throughput.py              # every brax env + a few gymnax / dmc
    python benchmarks/env_throughput.py --quick      # a short list, fewer repeats
    python benchmarks/env_throughput.py --envs brax/hopper,gymnax/Pendulum-v1

The last printed line is one JSON object: ``{"env_throughput": {env_id: ratio, ...}, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from projected_envs.registry import BRAX_ENVS, make

DEFAULT_ENVS = (
    *(f"brax/{n}" for n in BRAX_ENVS),
    "gymnax/Pendulum-v1",
    "gymnax/Reacher-misc",
    "gymnax/PointRobot-misc",
    "dmc/CartpoleSwingup",
    "dmc/PointMassHard",
    "dmc/CheetahRun",
)
QUICK_ENVS = (
    "brax/hopper",
    "brax/inverted_pendulum",
    "brax/reacher",
    "gymnax/Pendulum-v1",
    "gymnax/PointRobot-misc",
    "dmc/CartpoleSwingup",
    "dmc/PointMassHard",
)

Rollout = Callable[[jax.Array], jax.Array]


def random_action_rollout(
    env: Any,
    params: Any,
    batch: int,
    steps: int,
    summarize: Callable[[jax.Array, jax.Array], Any],
    init: Any,
    auto_reset: bool = True,
) -> Rollout:
    """Jitted ``key -> init + sum over steps of summarize(obs, reward)`` (``[batch, ...]``
    each): reset ``batch`` copies of ``env``, then ``steps`` steps of ``step`` (or of
    ``transition``: no auto-reset) with uniform random actions. Also used by
    ``brax_backends.py``."""
    size = env.action_size
    step_fn = env.step if auto_reset else env.transition

    def run(key: jax.Array) -> Any:
        key, k_reset = jax.random.split(key)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, batch), params)

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            action = jax.random.uniform(k_act, (batch, size), minval=-1.0, maxval=1.0)
            obs, state, reward, *_ = jax.vmap(step_fn, (0, 0, 0, None))(
                jax.random.split(k_step, batch), state, action, params
            )
            return (state, jax.tree.map(jnp.add, total, summarize(obs, reward))), None

        return jax.lax.scan(body, (state, init), jax.random.split(key, steps))[0][1]

    return jax.jit(run)


def ours_rollout(env_id: str, batch: int, steps: int, auto_reset: bool = True) -> Rollout:
    """Jitted ``key -> sum of rewards and observations`` of our env (see
    :func:`random_action_rollout`)."""
    env, params = make(env_id)
    return random_action_rollout(
        env,
        params,
        batch,
        steps,
        lambda obs, reward: reward.sum() + obs.sum(),
        jnp.zeros((), jnp.float32),
        auto_reset,
    )


def raw_rollout(env_id: str, batch: int, steps: int, brax_autoreset: bool = False) -> Rollout:
    """Jitted ``key -> reward sum`` of the backend env the adapter wraps, same workload
    (``brax_autoreset``: under brax's ``EpisodeWrapper`` + ``AutoResetWrapper``)."""
    suite, _ = env_id.split("/", 1)
    env, params = make(env_id)
    size = env.action_size
    if suite == "gymnax":
        raw, raw_params = env.gymnax_env, env.default_params

        def reset(k):
            return raw.reset(k, raw_params)[1]

        def step(k, s, a):
            obs, s, reward, *_ = raw.step(k, s, a, raw_params)
            return s, reward, obs

    elif suite in ("brax", "dmc"):
        raw = env.raw_env
        if brax_autoreset:
            from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper

            limit = int(params.max_steps_in_episode)
            raw = AutoResetWrapper(EpisodeWrapper(raw, episode_length=limit, action_repeat=1))

        def reset(k):
            return raw.reset(k)

        def step(k, s, a):
            s = raw.step(s, a)
            return s, s.reward, s.obs

    else:
        raise ValueError(f"no raw baseline for suite {suite!r} ({env_id})")

    def run(key: jax.Array) -> jax.Array:
        key, k_reset = jax.random.split(key)
        state = jax.vmap(reset)(jax.random.split(k_reset, batch))

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            action = jax.random.uniform(k_act, (batch, size), minval=-1.0, maxval=1.0)
            state, reward, obs = jax.vmap(step)(jax.random.split(k_step, batch), state, action)
            return (state, total + jnp.sum(reward) + jnp.sum(obs)), None

        init = (state, jnp.zeros((), jnp.float32))
        return jax.lax.scan(body, init, jax.random.split(key, steps))[0][1]

    return jax.jit(run)


def _timed(fn: Rollout, key: jax.Array) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(key))
    return time.perf_counter() - start


def measure(env_id: str, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """Compile the rollouts, then time them alternately; returns one table row."""
    fns = {
        "raw": raw_rollout(env_id, batch, steps),
        "ours": ours_rollout(env_id, batch, steps),
        "transition": ours_rollout(env_id, batch, steps, auto_reset=False),
    }
    if env_id.startswith("brax/"):
        fns["brax"] = raw_rollout(env_id, batch, steps, brax_autoreset=True)
    compile_s = {name: _timed(fn, jax.random.key(0)) for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn, jax.random.key(r + 1)))
    sps = {name: batch * steps / statistics.median(t) for name, t in times.items()}
    return {
        "env": env_id,
        "raw_sps": sps["raw"],
        "ours_sps": sps["ours"],
        "ratio": sps["ours"] / sps["raw"],
        "transition_ratio": sps["transition"] / sps["raw"],
        "vs_brax_autoreset": sps["ours"] / sps["brax"] if "brax" in sps else None,
        "compile_raw_s": compile_s["raw"],
        "compile_ours_s": compile_s["ours"],
    }


def _fmt(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=None, help="comma-separated env ids")
    parser.add_argument("--quick", action="store_true", help="short env list, 3 repeats")
    parser.add_argument("--batch", type=int, default=256, help="envs per batch (vmap)")
    parser.add_argument("--steps", type=int, default=100, help="steps per scan")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 5)")
    args = parser.parse_args(argv)

    envs = args.envs.split(",") if args.envs else (QUICK_ENVS if args.quick else DEFAULT_ENVS)
    repeats = args.repeats or (3 if args.quick else 5)
    machine = (
        f"{jax.devices()[0].platform}, {os.cpu_count()} CPU cores, {platform.processor() or ''}"
    )
    print(f"batch {args.batch} x {args.steps}-step scan, median of {repeats}; device: {machine}")
    header = (
        f"| {'env':<32} | {'raw steps/s':>12} | {'ours steps/s':>12} | {'ratio':>6} "
        f"| {'no reset':>8} | {'vs brax':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    rows = []
    for env_id in envs:
        row = measure(env_id, args.batch, args.steps, repeats)
        rows.append(row)
        print(
            f"| {env_id:<32} | {row['raw_sps']:>12,.0f} | {row['ours_sps']:>12,.0f} "
            f"| {row['ratio']:>6.3f} | {row['transition_ratio']:>8.3f} "
            f"| {_fmt(row['vs_brax_autoreset']):>7} |",
            flush=True,
        )
    result = {
        "env_throughput": {r["env"]: round(r["ratio"], 4) for r in rows},
        "without_auto_reset": {r["env"]: round(r["transition_ratio"], 4) for r in rows},
        "vs_brax_autoreset": {
            r["env"]: round(r["vs_brax_autoreset"], 4)
            for r in rows
            if r["vs_brax_autoreset"] is not None
        },
        "min_ratio": round(min(r["ratio"] for r in rows), 4),
        "goal": 0.95,
        "batch": args.batch,
        "steps": args.steps,
        "repeats": repeats,
        "device": machine,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
