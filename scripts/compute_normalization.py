"""Regenerate ``projected_envs/data/normalization.json``: per-env observation and reward statistics.

Method (documented in ``docs/concepts/scaling.md``):

* For each env id, ``--num-envs`` copies of the env (default task, ``make(env_id)``) run
  ``--num-steps`` steps each with actions drawn uniformly from ``[-1, 1]^A`` (the random
  policy), through ``env.step`` (auto-reset, fresh initial states). Every observation the
  policy sees is a sample: the initial ones and the one after every step.
* ``obs_mean``, ``obs_std``: mean and standard deviation of each coordinate over all samples
  (float64). A coordinate with ``std < 1e-3`` is treated as constant: its std is set to 1, so
  it is only centred (no amplification of near-constant features).
* ``reward_scale = 1 / max(1, rms)`` with ``rms = sqrt(mean(reward^2))`` over all steps: rewards
  whose per-step magnitude under the random policy exceeds 1 are shrunk to RMS 1; rewards
  already of size <= 1 (every DM Control task, sparse rewards) are left as they are, because a
  random policy underestimates sparse or shaped rewards and amplifying them would make the
  env dominate once the agent learns. The RMS (not the std) is used because a constant
  offset (brax's healthy bonus) contributes to the size of value targets as much as spread.
* ``reward_mean``, ``reward_std``, ``reward_rms`` and ``num_samples`` are stored for reference.
  Non-finite samples (a physics blow-up) are dropped and counted in ``num_dropped``.

Usage::

    python scripts/compute_normalization.py                     # every registered env
    python scripts/compute_normalization.py gymnax/Pendulum-v1  # some envs
    python scripts/compute_normalization.py --suite brax --num-envs 16 --num-steps 1000

Entries of envs not recomputed are kept; the file is rewritten after each env.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from projected_envs.registry import make, registered_envs  # noqa: E402

DEFAULT_OUTPUT = ROOT / "projected_envs" / "data" / "normalization.json"
MIN_STD = 1e-3  # coordinates with a smaller std are treated as constant (std := 1)
SIGNIFICANT_DIGITS = 6


def collect(env_id: str, num_envs: int, num_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random-policy samples of one env: observations ``[S, obs]`` and rewards ``[R]`` (float64)."""
    env, params = make(env_id)
    action_size = env.action_size

    @jax.jit
    def run(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        key_reset, key_run = jax.random.split(key)
        obs0, state = jax.vmap(env.reset, (0, None))(jax.random.split(key_reset, num_envs), params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.uniform(key_act, (num_envs, action_size), jnp.float32, -1.0, 1.0)
            obs, state, reward, _, _, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            return state, (obs, reward)

        _, (obs, reward) = jax.lax.scan(body, state, jax.random.split(key_run, num_steps))
        return obs0, obs, reward  # [N, O], [T, N, O], [T, N]

    obs0, obs, reward = jax.device_get(run(jax.random.key(seed)))
    obs = np.concatenate([obs0, obs.reshape(-1, obs.shape[-1])]).astype(np.float64)
    return obs, np.asarray(reward, np.float64).reshape(-1)


def statistics(obs: np.ndarray, reward: np.ndarray) -> dict[str, Any]:
    """The JSON entry of one env from its samples (see the module docstring)."""
    good_obs = np.all(np.isfinite(obs), axis=1)
    good_reward = np.isfinite(reward)
    obs, reward = obs[good_obs], reward[good_reward]
    std = obs.std(axis=0)
    std = np.where(std < MIN_STD, 1.0, std)
    rms = float(np.sqrt(np.mean(reward**2)))

    def r(x: Any) -> Any:
        if np.ndim(x):
            return [r(v) for v in x]
        return float(f"{float(x):.{SIGNIFICANT_DIGITS}g}")

    return {
        "obs_mean": r(obs.mean(axis=0)),
        "obs_std": r(std),
        "reward_scale": r(1.0 / max(1.0, rms)),
        "reward_mean": r(reward.mean()),
        "reward_std": r(reward.std()),
        "reward_rms": r(rms),
        "num_samples": int(obs.shape[0]),
        "num_dropped": int((~good_obs).sum() + (~good_reward).sum()),
    }


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with one key per line and every list on one line (readable, diff-friendly)."""
    if not isinstance(value, dict):
        return json.dumps(value)
    if not value:
        return "{}"
    pad = "  " * (indent + 1)
    items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in sorted(value.items())]
    return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_ids", nargs="*", help="env ids (default: every registered env)")
    parser.add_argument("--suite", help="only envs of this suite, e.g. gymnax, brax, dmc")
    parser.add_argument("--num-envs", type=int, default=16, help="parallel envs per env id")
    parser.add_argument("--num-steps", type=int, default=1000, help="steps per parallel env")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to update")
    args = parser.parse_args(argv)

    env_ids = args.env_ids or registered_envs(args.suite)
    data = {"envs": {}}
    if args.output.is_file():
        data = json.loads(args.output.read_text())
    data["method"] = {
        "policy": "uniform random actions in [-1, 1]",
        "obs": f"mean/std per coordinate over all visited observations; std < {MIN_STD} -> 1",
        "reward_scale": "1 / max(1, sqrt(mean(reward^2))) over all steps",
        "script": "scripts/compute_normalization.py",
    }
    for env_id in env_ids:
        start = time.perf_counter()
        try:
            obs, reward = collect(env_id, args.num_envs, args.num_steps, args.seed)
        except Exception as err:  # keep going: one env failing must not lose the others
            print(f"{env_id}: skipped ({type(err).__name__}: {err})", file=sys.stderr, flush=True)
            continue
        entry = statistics(obs, reward)
        entry["num_envs"], entry["num_steps"], entry["seed"] = (
            args.num_envs,
            args.num_steps,
            args.seed,
        )
        data["envs"][env_id] = entry
        args.output.write_text(dumps(data) + "\n")
        print(
            f"{env_id}: obs {obs.shape[1]}, reward rms {entry['reward_rms']:.4g}, "
            f"scale {entry['reward_scale']:.4g}, {time.perf_counter() - start:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
