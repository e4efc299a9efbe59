"""scripts/compute_reference_scores.py: keys, analytic dmc bounds, and a tiny trained reference."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import projected_envs as pe

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compute_reference_scores.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("compute_reference_scores", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_targets_are_the_env_and_kwargs_pairs_of_every_split(script):
    bench = pe.benchmark("classic")
    found = script.targets(["classic", "classic-families"], None)
    expected = {
        (env, json.dumps(dict(ts.kwargs_for(env)), sort_keys=True))
        for ts in bench.splits.values()
        for env in ts.envs
    }
    assert set(found) == expected  # classic-families adds no new (env, kwargs) pair
    provenance = {"benchmark": "classic-v1", "fingerprint": bench.fingerprint}  # the version
    assert all(p == provenance for p in found.values())


def test_dmc_reference_is_the_trial_length(script):
    pytest.importorskip("mujoco_playground")
    row = script.dmc_entry("dmc/CartpoleSwingup", {"max_steps_in_episode": 250})
    assert row["reference"] == 250.0 and row["kind"] == "upper_bound"
    assert row["computed_for"] is None  # valid whatever a benchmark's definition


@pytest.mark.slow
def test_tiny_trained_reference_is_written_and_found(script, tmp_path):
    out = tmp_path / "ref.json"
    argv = ["--benchmarks", "classic", "--envs", "gymnax/Pendulum-v1", "--budget", "256"]
    script.main([*argv, "--per-env", "2", "--provisional", "--out", str(out)])
    refs = pe.reference_scores(str(out))
    assert len(refs) == 1 and refs[0].kind == "unprojected_oracle" and refs[0].provisional
    assert isinstance(refs[0].beats_random, bool)
    runs = refs[0].budget["runs"]
    assert refs[0].score == max(r["score"] for r in runs) and len(runs) == 2
    ood = pe.benchmark("classic").id_test
    assert pe.reference_for(ood, ood.envs.index("gymnax/Pendulum-v1"), refs)[0] == refs[0]


def test_point_nav_bound_is_what_a_robot_that_knows_the_goal_gets(script):
    """The analytic bound, against a rollout of the raw env: a robot that knows its goal and
    drives straight at it at full speed collects exactly the bound when the goal lies on a
    diagonal (both axes at max_force), and never more on other goals."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    bench = pe.benchmark("point-nav")
    kwargs = dict(bench.train.kwargs_for("gymnax/PointRobot-misc"))
    row = script.point_robot_bound(kwargs)
    assert row["kind"] == "upper_bound" and row["reference"] == 45.0
    env, params = pe.make("gymnax/PointRobot-misc", **kwargs)
    steps = int(params.max_steps_in_episode)

    def greedy_return(angle: float) -> float:
        goal = jnp.array([np.cos(angle), np.sin(angle)], jnp.float32)
        task = params.replace(goal=goal)
        _, state = env.reset(jax.random.key(0), task)
        total = 0.0
        for t in range(steps):
            push = (goal - state.pos) / params.env.max_force  # in [-1, 1] units of max_force
            _, state, r, *_ = env.transition(jax.random.key(t), state, jnp.clip(push, -1, 1), task)
            total += float(r)
        return total

    assert greedy_return(np.pi / 4) == row["reference"]
    assert all(greedy_return(a) <= row["reference"] for a in (0.3, np.pi / 2, 2.5))
    teleporting = {**kwargs, "teleport": True, "observe_last_action": True}
    assert script.point_robot_bound(teleporting) is None  # no bound claimed for gymnax's own
