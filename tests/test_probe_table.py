"""scripts/probe_table.py: rows from a run folder, numbers as eval.json holds them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from projected_envs.statistics import summarize

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "probe_table.py"
spec = importlib.util.spec_from_file_location("probe_table", SCRIPT)
probe_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe_table)


def _run(folder: Path, seed: int, returns: np.ndarray | None, update: int = 3200) -> Path:
    folder.mkdir(parents=True)
    config = {
        "benchmark": "point-nav-obs8-fixed",
        "seed": seed,
        "ppo": {
            "memory": "s5",
            "num_envs": 16,
            "num_steps": 256,
            "total_timesteps": 16 * 256 * 3200,
        },
    }
    (folder / "config.json").write_text(json.dumps({"config": config}))
    (folder / "metrics.jsonl").write_text(json.dumps({"update": update}) + "\n")
    if returns is not None:
        env = np.zeros(len(returns), np.int32)
        split = {
            "summary": summarize(returns, env, ["e"], num_resamples=200),
            "random_summary": summarize(np.zeros_like(returns), env, ["e"], num_resamples=200),
        }
        (folder / "eval.json").write_text(
            json.dumps({"splits": {"id_test": split, "ood_test": split}})
        )
    return folder


def test_finished_run_rows_hold_the_mean_per_trial_and_gain(tmp_path):
    returns = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 2.0]])
    _run(tmp_path / "fixed-s5-s0", 0, returns)
    table = probe_table.rows(probe_table.run_folders([tmp_path]))
    id_row = next(r for r in table if "| id_test |" in r)
    assert "| point-nav-obs8-fixed | s5 | 0 | yes |" in id_row
    assert f"{returns.mean():.2f} [" in id_row  # mean over tasks of the per-task mean
    assert "0.50, 1.50, 2.00, 3.00" in id_row  # per trial
    assert f"| {(returns[:, -1] - returns[:, 0]).mean():.2f} [" in id_row  # gain 2.50
    assert id_row.endswith("| 0.00 |")  # random reference


def test_unfinished_run_says_how_far_it_got(tmp_path):
    _run(tmp_path / "fixed-s5-s1", 1, None, update=1200)
    (row,) = probe_table.rows(probe_table.run_folders([tmp_path]))[2:]
    assert "| 1 | no (update 1200 of 3200) |" in row


def test_a_combined_folder_reads_its_config_and_seeds_from_sources(tmp_path):
    run = _run(tmp_path / "one", 0, np.ones((2, 4)))
    combined = tmp_path / "combined"
    combined.mkdir()
    config = json.loads((run / "config.json").read_text())["config"]
    sources = {"runs": [str(run)], "seeds": [0, 1], "config": config}
    (combined / "sources.json").write_text(json.dumps(sources))
    (combined / "eval.json").write_text((run / "eval.json").read_text())
    info = probe_table.run_info(combined)
    assert (info["benchmark"], info["memory"], info["seed"]) == (
        "point-nav-obs8-fixed",
        "s5",
        "0,1",
    )
    assert info["finished"]
