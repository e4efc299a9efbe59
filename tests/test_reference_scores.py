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
    assert all(
        p == {"benchmark": "classic", "fingerprint": bench.fingerprint} for p in found.values()
    )


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
