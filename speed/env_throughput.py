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

    python speed/env_throughput.py              # every brax env + a few gymnax / dmc
    python speed/env_throughput.py --quick      # a short list, fewer repeats
    python speed/env_throughput.py --envs brax/hopper,gymnax/Pendulum-v1
    python speed/env_throughput.py --envs brax/inverted_pendulum --instances 4  # with CIs

The last printed line is one JSON object: ``{"env_throughput": {env_id: ratio, ...}, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from host import cpu_model

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


#: Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its 95 % Student-t interval
    (``low == high == mean`` for a single value)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, mean, mean
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / n**0.5
    return mean, mean - half, mean + half


def measure(
    env_id: str, batch: int, steps: int, repeats: int, instances: int = 1
) -> dict[str, Any]:
    """Compile the rollouts, then time them alternately; returns one table row.

    ``instances`` > 1 builds that many independent copies of every rollout (each its own
    trace, compile and buffers; all timed alternately in the same loop): on a shared CPU,
    copies of the same program ran up to 7 % apart, so one copy's ratio can miss a 5 %
    goal by luck. The row's ratios are then means over copies, with 95 % t-intervals.
    """
    builders = {
        "raw": lambda: raw_rollout(env_id, batch, steps),
        "ours": lambda: ours_rollout(env_id, batch, steps),
        "transition": lambda: ours_rollout(env_id, batch, steps, auto_reset=False),
    }
    if env_id.startswith("brax/"):
        builders["brax"] = lambda: raw_rollout(env_id, batch, steps, brax_autoreset=True)
    fns = {(name, i): build() for i in range(instances) for name, build in builders.items()}
    compile_s = {key: _timed(fn, jax.random.key(0)) for key, fn in fns.items()}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in fns}
    for r in range(repeats):
        for key, fn in fns.items():
            times[key].append(_timed(fn, jax.random.key(r + 1)))
    sps = {key: batch * steps / statistics.median(t) for key, t in times.items()}

    def ratio(num: str, den: str) -> tuple[float, float, float] | None:
        if (den, 0) not in sps:
            return None
        return mean_ci([sps[num, i] / sps[den, i] for i in range(instances)])

    ours, no_reset = ratio("ours", "raw"), ratio("transition", "raw")
    vs_brax = ratio("ours", "brax")
    return {
        "env": env_id,
        "raw_sps": statistics.fmean(sps["raw", i] for i in range(instances)),
        "ours_sps": statistics.fmean(sps["ours", i] for i in range(instances)),
        "ratio": ours[0],
        "ratio_ci": list(ours[1:]),
        "transition_ratio": no_reset[0],
        "vs_brax_autoreset": None if vs_brax is None else vs_brax[0],
        "vs_brax_autoreset_ci": None if vs_brax is None else list(vs_brax[1:]),
        "compile_raw_s": compile_s["raw", 0],
        "compile_ours_s": compile_s["ours", 0],
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
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="independent compiled copies of every rollout; >1 reports mean ratios with 95%% CIs",
    )
    args = parser.parse_args(argv)
    if args.instances < 1:
        parser.error(f"--instances must be >= 1, got {args.instances}")

    envs = args.envs.split(",") if args.envs else (QUICK_ENVS if args.quick else DEFAULT_ENVS)
    repeats = args.repeats or (3 if args.quick else 5)
    machine = f"{jax.devices()[0].platform}, {os.cpu_count()} CPU cores, {cpu_model()}"
    copies = f", mean of {args.instances} compiled copies" if args.instances > 1 else ""
    print(
        f"batch {args.batch} x {args.steps}-step scan, median of {repeats}{copies}; "
        f"device: {machine}"
    )
    header = (
        f"| {'env':<32} | {'raw steps/s':>12} | {'ours steps/s':>12} | {'ratio':>6} "
        f"| {'no reset':>8} | {'vs brax':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    rows = []
    for env_id in envs:
        row = measure(env_id, args.batch, args.steps, repeats, args.instances)
        rows.append(row)
        print(
            f"| {env_id:<32} | {row['raw_sps']:>12,.0f} | {row['ours_sps']:>12,.0f} "
            f"| {row['ratio']:>6.3f} | {row['transition_ratio']:>8.3f} "
            f"| {_fmt(row['vs_brax_autoreset']):>7} |",
            flush=True,
        )
    if args.instances > 1:
        print("95% CIs over copies: ours / raw, ours / brax auto-reset")
        for r in rows:
            brax = r["vs_brax_autoreset_ci"]
            brax = f", [{brax[0]:.3f}, {brax[1]:.3f}]" if brax else ""
            print(f"  {r['env']}: [{r['ratio_ci'][0]:.3f}, {r['ratio_ci'][1]:.3f}]{brax}")
    result = {
        "env_throughput": {r["env"]: round(r["ratio"], 4) for r in rows},
        "without_auto_reset": {r["env"]: round(r["transition_ratio"], 4) for r in rows},
        "vs_brax_autoreset": {
            r["env"]: round(r["vs_brax_autoreset"], 4)
            for r in rows
            if r["vs_brax_autoreset"] is not None
        },
        "min_ratio": round(min(r["ratio"] for r in rows), 4),
        "ratio_ci": {r["env"]: [round(x, 4) for x in r["ratio_ci"]] for r in rows},
        "instances": args.instances,
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
