"""Regenerate ``projected_envs/data/reference_scores.json``: per-env reference trial returns.

A reference is the return of one trial of a base env, in its own reward units, keyed by env id
and the ``make()`` kwargs of the benchmark that uses it (the trial length among them). Two kinds:

* ``upper_bound`` (``dmc/...``): DM Control rewards lie in ``[0, 1]`` per step, so a trial of
  ``max_steps_in_episode`` steps returns at most that many: the reference is that bound, exact and
  free (no training). Valid for any benchmark definition.
* ``upper_bound`` (``gymnax/PointRobot-misc`` started at the origin, sparse reward, no
  teleport: ``point-nav``): the steps of a trial minus those needed to reach the nearest goal
  disc at full speed.
* ``unprojected_oracle`` (every other env): the best of our agents (PPO with each ``--memory``
  kind, each ``--seeds`` seed) trained for ``--budget`` env steps on that single env *without*
  projections (identity projections at the env's own sizes, K = 1), scored as its mean raw trial
  return over the env's evaluation bank (``--per-env`` tasks, mean and sampled actions, the
  better one). ``beats_random`` says whether the 95% CI of its paired per-task margin over a
  uniform-random policy (same tasks and env keys) lies above 0; the evaluator does not use an
  entry that does not. It records the fingerprint of the benchmark it was computed for; when that
  benchmark's definition changes, the evaluator treats the entry as stale (NaN scores and a
  warning naming this script) until it is recomputed. A small budget gives a weak reference
  (normalised scores above 1 are then possible); the budget is written next to the number.

    python scripts/compute_reference_scores.py                               # every benchmark
    python scripts/compute_reference_scores.py --benchmarks dmc-lu2023       # analytic, instant
    python scripts/compute_reference_scores.py --benchmarks classic --budget 20000 --seeds 0 1
    python scripts/compute_reference_scores.py --envs gymnax/Pendulum-v1 --out /tmp/ref.json

Entries of other (env, kwargs) in the output file are kept; computed ones replace theirs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

import projected_envs as pe
from agents.evaluation import evaluate
from agents.ppo import PPOConfig, make_train
from projected_envs.statistics import summarize_scores

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "projected_envs" / "data" / "reference_scores.json"
)
DMC_WHAT = (
    "Upper bound: DM Control rewards lie in [0, 1] per control step, so a trial of {steps} "
    "control steps (agent steps x action repeat) returns at most {steps}."
)
ORACLE_WHAT = (
    "Unprojected oracle: best mean raw trial return over {per_env} evaluation tasks of PPO "
    "(memory {memory}, seeds {seeds}) trained {budget} env steps on this env alone with identity "
    "projections and K=1; a budget-limited reference, not the env's optimum."
)


def _kwargs_json(kwargs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in kwargs}


def targets(benchmarks: Sequence[str], envs: Sequence[str] | None) -> dict[tuple, dict[str, Any]]:
    """Unique (env, kwargs) pairs of the benchmarks' splits -> the benchmark that first uses it."""
    out: dict[tuple, dict[str, Any]] = {}
    for name in benchmarks:
        bench = pe.benchmark(name)
        for task_set in bench.splits.values():
            for env_id in task_set.envs:
                if envs and env_id not in envs:
                    continue
                key = (
                    env_id,
                    json.dumps(_kwargs_json(task_set.kwargs_for(env_id)), sort_keys=True),
                )
                out.setdefault(key, {"benchmark": bench.id, "fingerprint": bench.fingerprint})
    return out


def dmc_entry(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The analytic upper bound of a DM Control env: agent steps x action repeat per trial
    (rewards in [0, 1] per physics-control step, summed over repeats)."""
    env, params = pe.make(env_id, **kwargs)
    steps = int(params.max_steps_in_episode) * int(getattr(env, "_action_repeat", 1))
    return {
        "env": env_id,
        "env_kwargs": kwargs,
        "reference": float(steps),
        "kind": "upper_bound",
        "what": DMC_WHAT.format(steps=steps),
        "computed_for": None,
    }


POINT_ROBOT_WHAT = (
    "Upper bound: the robot starts at the origin, {gap:.3g} from the nearest point of any goal "
    "disc, and moves at most max_force * sqrt(2) = {speed:.3g} per step, so the first "
    "{first} of the {steps} steps cannot be rewarded (1 per step in the disc): at most "
    "{bound} per trial."
)


def point_robot_bound(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The analytic upper bound of ``gymnax/PointRobot-misc`` started at the origin with a
    sparse reward and no teleport (``point-nav``), or None for other settings."""
    _, params = pe.make("gymnax/PointRobot-misc", **kwargs)
    gp = params.env
    if kwargs.get("teleport", True) or not gp.center_init or gp.dense_reward:
        return None
    speed = float(gp.max_force) * 2**0.5
    gap = float(gp.circle_radius) - float(gp.goal_radius)
    first = max(0, int(np.ceil(gap / speed - 1e-9)))  # reward counts the position before a move
    steps = int(gp.max_steps_in_episode)
    bound = max(0, steps - first)
    return {
        "env": "gymnax/PointRobot-misc",
        "env_kwargs": kwargs,
        "reference": float(bound),
        "kind": "upper_bound",
        "what": POINT_ROBOT_WHAT.format(
            gap=gap, speed=speed, first=first, steps=steps, bound=bound
        ),
        "computed_for": None,
    }


def oracle_config(budget: int, memory: str, trial_steps: int) -> PPOConfig:
    """A small PPO for one unprojected env (16 slots x one trial per rollout)."""
    num_envs, num_steps = 16, max(16, min(trial_steps, 256))
    return PPOConfig(
        learning_rate=3e-4,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=max(budget, num_envs * num_steps),
        update_epochs=4,
        num_minibatches=2,
        gae_lambda=0.95,
        memory=memory,
        s5_state_size=16,
        s5_num_layers=1,
        encoder_sizes=(64, 64),
        head_sizes=(64,),
    )


def oracle_entry(
    env_id: str,
    kwargs: dict[str, Any],
    provenance: dict[str, Any],
    *,
    budget: int,
    seeds: Sequence[int],
    memories: Sequence[str],
    per_env: int,
) -> dict[str, Any]:
    """Train PPO on the unprojected env for each (memory, seed); the best evaluation wins."""
    env, _ = pe.make(env_id, **kwargs)
    task_set = pe.TaskSet(
        envs=(env_id,),
        obs_dim=env.obs_size,
        action_dim=env.action_size,
        num_trials=1,
        obs_family="identity",
        action_family="identity",
        env_kwargs=((env_id, tuple(kwargs.items())),),
        name=f"oracle/{env_id}",
    )
    trial_steps = task_set.max_trial_steps(0) or 1000
    best, best_ci, random, runs = -np.inf, None, None, []
    for memory in memories:
        config = oracle_config(budget, memory, trial_steps)
        train = jax.jit(make_train(config, task_set))
        for seed in seeds:
            train_state, _ = train(jax.random.PRNGKey(seed))
            for deterministic in (True, False):
                with warnings.catch_warnings():  # the oracle's own set has no reference yet
                    warnings.simplefilter("ignore", UserWarning)
                    result = evaluate(
                        train_state.params,
                        config,
                        task_set,
                        per_env=per_env,
                        seed=seed,
                        deterministic=deterministic,
                        num_resamples=10,
                    )
                score = float(result.raw_returns.mean())
                random = float(result.random_raw_returns.mean())
                # Paired per-task margin over the random policy (same tasks and env keys).
                margin = result.raw_returns.mean(axis=1) - result.random_raw_returns.mean(axis=1)
                ci = summarize_scores(margin, num_resamples=2000, seed=seed)["mean_ci"]
                runs.append(
                    {
                        "memory": memory,
                        "seed": seed,
                        "deterministic": deterministic,
                        "score": score,
                        "margin_over_random_ci": ci,
                    }
                )
                if score > best:
                    best, best_ci = score, ci
    return {
        "env": env_id,
        "env_kwargs": kwargs,
        "reference": best,
        "kind": "unprojected_oracle",
        "what": ORACLE_WHAT.format(
            per_env=per_env, memory="/".join(memories), seeds=list(seeds), budget=budget
        ),
        "computed_for": provenance,
        "random": random,
        "margin_over_random_ci": best_ci,
        "beats_random": bool(best_ci[0] > 0),
        "budget": {
            "total_timesteps": config.total_timesteps,
            "memory": list(memories),
            "seeds": list(seeds),
            "per_env": per_env,
            "ppo": {
                k: v
                for k, v in dataclasses.asdict(
                    oracle_config(budget, memories[0], trial_steps)
                ).items()
                if k != "memory_kwargs"
            },
            "runs": runs,
        },
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Compute the requested references and merge them into ``--out``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--benchmarks", nargs="+", default=None, help="default: all registered")
    parser.add_argument("--envs", nargs="+", default=None, help="only these env ids")
    parser.add_argument("--budget", type=int, default=20_000, help="PPO env steps per oracle run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--memory", nargs="+", default=["none"], help="PPO memory kinds to try")
    parser.add_argument("--per-env", type=int, default=16, help="evaluation tasks per env")
    parser.add_argument("--skip-trained", action="store_true", help="only analytic (dmc) entries")
    parser.add_argument(
        "--provisional",
        action="store_true",
        help="label trained references as provisional (a small budget, to be recomputed)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    names = args.benchmarks or pe.benchmarks()
    available = []
    for name in names:
        try:
            pe.benchmark(name)
            available.append(name)
        except ValueError as err:  # e.g. the dmc extra is not installed
            print(f"skip benchmark {name}: {err}")
    existing = json.loads(args.out.read_text()) if args.out.exists() else {"references": []}
    rows = {
        (r["env"], json.dumps(r["env_kwargs"], sort_keys=True)): r for r in existing["references"]
    }
    for (env_id, kwargs_text), provenance in targets(available, args.envs).items():
        kwargs = json.loads(kwargs_text)
        start = time.process_time()
        bound = point_robot_bound(kwargs) if env_id == "gymnax/PointRobot-misc" else None
        if env_id.startswith("dmc/"):
            row = dmc_entry(env_id, kwargs)
        elif bound is not None:
            row = bound
        elif args.skip_trained:
            continue
        else:
            row = oracle_entry(
                env_id,
                kwargs,
                provenance,
                budget=args.budget,
                seeds=args.seeds,
                memories=args.memory,
                per_env=args.per_env,
            )
            row["provisional"] = bool(args.provisional)
        rows[(env_id, kwargs_text)] = row
        print(
            f"{env_id} {kwargs}: {row['kind']} {row['reference']:.4g} "
            f"(random {row.get('random')}) [{time.process_time() - start:.0f} s CPU]"
        )
    out = {
        "format": 1,
        "script": "scripts/compute_reference_scores.py",
        "description": (
            "Reference trial returns per (env, make() kwargs) for normalised scores "
            "(return - random) / (reference - random); see docs/reference/evaluation.md."
        ),
        "references": sorted(
            rows.values(), key=lambda r: (r["env"], json.dumps(r["env_kwargs"], sort_keys=True))
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(rows)} references to {args.out}")
    return out


if __name__ == "__main__":
    main()
