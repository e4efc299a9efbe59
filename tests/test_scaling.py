"""benchmarks/scaling.py on forced CPU devices, and the GPU learning run's sizing and summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import learning_summary  # noqa: E402


def test_size_total_timesteps_fills_the_time_budget_in_whole_updates():
    # 200k steps/s for 100 s over 3 seeds at 65,536 steps per update: 101 updates per seed.
    total = learning_summary.size_total_timesteps(200_000, 100, 65_536, 3)
    assert total == 101 * 65_536
    assert learning_summary.size_total_timesteps(1, 1, 65_536, 3) == 2 * 65_536  # the minimum


def _split(mean: float, gain: float) -> dict:
    group = {
        "return": {"mean": mean, "mean_ci": [mean - 1, mean + 1]},
        "gain": {"mean": gain, "mean_ci": [gain - 1, gain + 1]},
        "per_trial": {"mean": [mean - gain / 2, mean + gain / 2]},
    }
    rand = {"overall": {"return": {"mean": -5.0}, "gain": {"mean": 0.0}}}
    return {"summary": {"overall": group, "num_tasks": 6}, "random_summary": rand}


def test_learning_summary_reads_every_run_folder(tmp_path):
    run = tmp_path / "s5"
    run.mkdir()
    report = {
        "env_steps": 1000,
        "seeds": [0, 1],
        "splits": {"train": _split(2.0, 1.0)},
        "per_seed": {"train": [{"mean": 1.5, "gain": 0.5}, {"mean": 2.5, "gain": 1.5}]},
    }
    (run / "eval.json").write_text(json.dumps(report))
    extra = {"num_trials": 4, "train_num_trials": 2, "splits": {"train": _split(3.0, 2.0)}}
    (run / "extrapolation_eval.json").write_text(json.dumps(extra))
    rows = [{"update": 1, "steps_per_second": 10.0}, {"update": 2, "steps_per_second": 30.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "none").mkdir()  # a failed run without eval.json is skipped
    summary = learning_summary.summarize_runs(tmp_path)
    assert list(summary["runs"]) == ["s5"]
    s5 = summary["runs"]["s5"]
    assert s5["steps_per_s"] == 20.0 and s5["env_steps_per_seed"] == 1000
    train = s5["splits"]["train"]
    assert train["mean"] == 2.0 and train["gain_ci"] == [0.0, 2.0]
    assert train["random_mean"] == -5.0 and train["mean_per_seed"] == [1.5, 2.5]
    assert s5["extrapolation"]["num_trials"] == 4
    assert s5["extrapolation"]["splits"]["train"]["gain"] == 2.0


@pytest.mark.slow
def test_scaling_benchmark_runs_on_forced_cpu_devices(tmp_path):
    """About a minute on a 2-core CPU: the sharded update compiles once per device count."""
    out = tmp_path / "scaling.json"
    flags = ["--cpu-devices", "2", "--devices", "1,2", "--envs-per-device", "8"]
    flags += ["--num-steps", "8", "--update-epochs", "1", "--num-minibatches", "2"]
    flags += ["--repeats", "1", "--memory", "gru", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "scaling.py"), *flags]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    rows = json.loads(out.read_text())["scaling"]
    assert [r["devices"] for r in rows] == [1, 2] and [r["num_envs"] for r in rows] == [8, 16]
    assert rows[0]["vs_linear"] == 1.0
    assert rows[1]["vs_linear"] == pytest.approx(
        rows[1]["steps_per_s"] / (2 * rows[0]["steps_per_s"]), rel=1e-2
    )


def test_stack_layers_ends_with_the_task_sets_own_stack():
    # The profiler's last row must be the stack TaskSet builds: same task, same keys, same
    # rollout (to the bit), and a base env with wider random draws runs.
    import jax
    import numpy as np
    import stack_layers
    import vec_env

    from projected_envs.benchmark_registry import benchmark

    env_id = "gymnax/Pendulum-v1"
    ts = benchmark("classic").train
    built = stack_layers.layers("classic", env_id)
    mine, theirs = list(built.values())[-1], ts.make_env(ts.envs.index(env_id))
    sample = lambda k: ts.sample_task(ts.envs.index(env_id), k)
    run = lambda env: jax.jit(vec_env._env_run(env, 4, 8, sample))(jax.random.key(0))
    np.testing.assert_array_equal(run(mine), run(theirs))
    base = built["base"]
    wide = vec_env.env_rollout(base, 4, 8, base.sample_task, width=3)
    assert np.isfinite(float(wide(jax.random.key(1))))
