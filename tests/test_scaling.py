"""speed/scaling.py on forced CPU devices, and speed/stack_layers.py's stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "speed"))


@pytest.mark.slow
def test_scaling_benchmark_runs_on_forced_cpu_devices(tmp_path):
    """About a minute on a 2-core CPU: the sharded update compiles once per device count."""
    out = tmp_path / "scaling.json"
    flags = ["--cpu-devices", "2", "--devices", "1,2", "--envs-per-device", "8"]
    flags += ["--num-steps", "8", "--update-epochs", "1", "--num-minibatches", "2"]
    flags += ["--repeats", "1", "--memory", "gru", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, str(ROOT / "speed" / "scaling.py"), *flags]
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
