"""scripts/learning_summary.py: the GPU learning run's sizing and its summary of run folders."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "learning_summary.py"
_spec = importlib.util.spec_from_file_location("learning_summary", SCRIPT)
learning_summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(learning_summary)


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
