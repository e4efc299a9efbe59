"""The main job end to end: the smoke preset's artifacts, bitwise resume, refusals, evaluate.py.

Every run here uses the ``smoke`` preset in one process, so the jitted programs compile once
(``meta_train.programs`` and the evaluators are cached per config).
"""

from __future__ import annotations

import json
import re

import pytest

from agents.checkpoint import tree_equal
from agents.experiment import combine as combine_runs
from agents.experiment import evaluate as evaluate_script
from agents.experiment import train as meta_train
from agents.experiment.configs import PRESETS, TrainConfig
from agents.ppo import PPOConfig

SMOKE = ["--preset", "smoke", "--no-progress"]
# One process runs every test of this module (pytest -n 2 --dist loadgroup): they share the
# module fixture and the compiled programs, which are most of their cost.
pytestmark = pytest.mark.xdist_group("meta_train")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One uninterrupted smoke run."""
    out = tmp_path_factory.mktemp("runs") / "full"
    return meta_train.main([*SMOKE, "--out-dir", str(out)])


def test_smoke_preset_writes_every_artifact(full_run):
    run_dir, config = full_run.run_dir, PRESETS["smoke"]
    assert full_run.finished and int(full_run.runner_state.update) == config.num_updates
    record = json.loads((run_dir / "config.json").read_text())
    assert record["preset"] == "smoke" and record["config"]["benchmark"] == "classic"
    # the preset's scan="auto" is recorded as the schedule it ran on this backend
    assert config.ppo.s5_scan == "auto" and record["config"]["ppo"]["s5_scan"] == "sequential"

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # The untrained agent's evaluation, then one row per chunk of 2 updates.
    assert [r["update"] for r in rows] == [0, 2, 4]
    assert [r["env_steps"] for r in rows] == [0, 256, 512]
    for row in rows:
        assert row["wall_time"] > 0
        if row["update"]:
            assert row["steps_per_second"] > 0 and isinstance(row["loss/total"], float)
        for split in ("train", "id_test", "ood_test"):
            lo, hi = row[f"eval/{split}/mean_ci"]
            assert lo <= row[f"eval/{split}/mean"] <= hi

    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [2, 4]

    report = json.loads((run_dir / "eval.json").read_text())
    assert set(report["splits"]) == {"train", "id_test", "ood_test"}
    for split in report["splits"].values():
        num_tasks = config.final_eval_per_env * len(split["env_names"])
        assert len(split["returns"]) == num_tasks and len(split["returns"][0]) == 4
        assert split["random_summary"]["overall"]["return"]["mean_ci"][0] is not None
        assert set(split["summary"]["overall"]) == {"return", "per_trial", "gain"}
    assert "ood_test" in (run_dir / "eval_table.txt").read_text()
    for name in ("learning_curve.png", "in_context.png"):
        data = (run_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000

    # the profile: every phase of a finished run, adding up to the process's time in run()
    profile = json.loads((run_dir / "profile.json").read_text())
    phases = {"init or restore", "compile chunks", "training chunks", "checkpoints"}
    phases |= {"evaluations during training", "final evaluation", "reports and plots"}
    assert phases | {"other", "total"} == set(profile)
    assert all(v >= 0 for v in profile.values())
    assert sum(v for k, v in profile.items() if k != "total") == pytest.approx(profile["total"])


def test_resume_gives_bitwise_the_same_final_state(full_run, tmp_path):
    out = tmp_path / "resumed"
    first = meta_train.main([*SMOKE, "--out-dir", str(out), "--stop-after-updates", "2"])
    assert not first.finished and int(first.runner_state.update) == 2
    assert not (out / "eval.json").exists()
    second = meta_train.main(["--resume", str(out), "--no-progress"])  # config from the run
    assert second.finished
    assert tree_equal(second.runner_state, full_run.runner_state)  # params, opt, envs, keys
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [0, 2, 4]


def test_resume_with_another_config_is_refused_naming_the_fields(full_run):
    argv = ["--resume", str(full_run.run_dir), "--learning-rate", "0.5", "--seed", "3"]
    with pytest.raises(ValueError) as err:
        meta_train.main([*argv, "--no-progress"])
    message = str(err.value)
    assert "ppo.learning_rate: run=0.001, now=0.5" in message
    assert "seed: run=0, now=3" in message
    assert "memory" not in message


def test_resume_with_another_scan_schedule_is_refused(full_run):
    argv = ["--resume", str(full_run.run_dir), "--s5-scan", "doubling", "--no-progress"]
    with pytest.raises(
        ValueError, match=re.escape("ppo.s5_scan: run='sequential', now='doubling'")
    ):
        meta_train.main(argv)


def test_new_run_into_an_existing_run_folder_is_refused(full_run):
    with pytest.raises(SystemExit, match="--resume"):
        meta_train.main([*SMOKE, "--out-dir", str(full_run.run_dir)])


def test_help_lists_every_field_with_its_comment(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit):
        meta_train.parse_args(["--help"])
    text = capsys.readouterr().out
    import dataclasses

    for cls in (TrainConfig, PPOConfig, meta_train.Args):
        for field in dataclasses.fields(cls):
            if field.name in ("ppo", "config", "memory_kwargs"):  # memory_kwargs: (name, Any)
                continue  # pairs have no CLI form; tyro leaves the field at its default
            assert f"--{field.name.replace('_', '-')}" in text, field.name
    assert "PPO updates per jitted chunk" in text  # a TrainConfig comment
    assert "Adam step size" in text  # a PPOConfig comment
    assert "{cpu,smoke,gpu,dmc-lu2023}" in text


def test_presets_and_memory_flag_parse():
    args = meta_train.parse_args(["--preset", "gpu", "--memory", "gru"])
    assert args.config.ppo.memory == "gru" and args.config.ppo.num_envs == 256
    assert meta_train.parse_args([]).config == PRESETS["cpu"]


def test_evaluate_script_reports_a_saved_agent(full_run, tmp_path):
    argv = ["--checkpoint", str(full_run.run_dir), "--split", "ood_test", "--per-env", "2"]
    results = evaluate_script.main([*argv, "--out-dir", str(tmp_path)])
    assert set(results) == {"ood_test"}
    # Same tasks, keys and params as the run's final evaluation: the same returns.
    report = json.loads((full_run.run_dir / "eval.json").read_text())
    assert results["ood_test"].returns.tolist() == report["splits"]["ood_test"]["returns"]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "classic_ood_test_k4_eval.json",
        "classic_ood_test_k4_eval_table.txt",
        "classic_ood_test_k4_in_context.png",
    ]


def test_evaluate_script_refuses_an_incompatible_benchmark(full_run):
    from projected_envs import benchmark

    ours, other = benchmark("classic"), benchmark("brax-locomotion")
    assert ours.obs_dim != other.obs_dim and ours.action_dim != other.action_dim
    argv = ["--checkpoint", str(full_run.run_dir), "--benchmark", "brax-locomotion"]
    with pytest.raises(ValueError) as err:
        evaluate_script.main([*argv, "--split", "train"])
    message, where = str(err.value), "brax-locomotion/train"
    assert f"obs_dim: agent={ours.obs_dim}, {where}={other.obs_dim}" in message
    assert f"action_dim: agent={ours.action_dim}, {where}={other.action_dim}" in message


# ------------------------------------------------------------------------------ --num-seeds
SEEDS = [*SMOKE, "--num-seeds", "2"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    """One uninterrupted smoke run of seeds 0 and 1 together."""
    out = tmp_path_factory.mktemp("runs") / "seeds"
    return meta_train.main([*SEEDS, "--out-dir", str(out)])


def test_num_seeds_runs_each_seed_as_its_own_run(seeds_run, full_run):
    import jax
    import numpy as np

    state = seeds_run.runner_state
    assert state.update.shape == (2,) and state.update.tolist() == [4, 4]
    # Seed 0 of the vmapped pair is the single-seed run (seed 0) up to float batching order,
    # and seed 1 is another run (different init and noise).
    seed0 = jax.tree.map(lambda x: x[0], state.train_state.params)
    seed1 = jax.tree.map(lambda x: x[1], state.train_state.params)
    single = full_run.runner_state.train_state.params
    for a, b in zip(jax.tree.leaves(seed0), jax.tree.leaves(single)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(jax.tree.leaves(seed0)[0], jax.tree.leaves(seed1)[0])


def test_num_seeds_metrics_and_eval_aggregate_over_seeds(seeds_run, full_run):
    run_dir = seeds_run.run_dir
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    single = [
        json.loads(line) for line in (full_run.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["update"] for r in rows] == [0, 2, 4] and [r["env_steps"] for r in rows] == [
        0,
        256,
        512,
    ]
    for row, one in zip(rows, single):
        per_seed = row["eval/train/mean_per_seed"]
        assert len(per_seed) == 2
        assert per_seed[0] == pytest.approx(one["eval/train/mean"], abs=1e-3)  # seed 0 = single run
        if row["update"]:
            values = [v for v in row["rollout/task_return_per_seed"] if v is not None]
            if values:
                assert row["rollout/task_return"] == pytest.approx(sum(values) / len(values))
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["seeds"] == [0, 1] and set(report["per_seed"]) == {"train", "id_test", "ood_test"}
    one_report = json.loads((full_run.run_dir / "eval.json").read_text())
    for name, split in report["splits"].items():
        tasks = len(one_report["splits"][name]["returns"])
        assert len(split["returns"]) == 2 * tasks  # seeds x tasks
        assert split["meta"]["row_seed"] == [0] * tasks + [1] * tasks
        # The aggregate is the mean over every seed-task row; seed 0's own entry is the single run.
        means = [sum(r) / len(r) for r in split["returns"]]
        assert split["summary"]["overall"]["return"]["mean"] == pytest.approx(
            sum(means) / len(means)
        )
        seed0 = report["per_seed"][name][0]
        assert seed0["mean"] == pytest.approx(
            one_report["splits"][name]["summary"]["overall"]["return"]["mean"], abs=1e-3
        )
    assert "per seed" in (run_dir / "eval_table.txt").read_text()


def test_num_seeds_resume_gives_bitwise_the_same_final_state(seeds_run, tmp_path):
    out = tmp_path / "seeds_resumed"
    first = meta_train.main([*SEEDS, "--out-dir", str(out), "--stop-after-updates", "2"])
    assert not first.finished
    second = meta_train.main(["--resume", str(out), "--no-progress"])
    assert second.finished and tree_equal(second.runner_state, seeds_run.runner_state)


def test_seed_batching_is_validated_and_auto_maps_seeds_on_cpu():
    """The seed axis: vmap or lax.map as asked; "auto" maps on CPU (vmapped S5 hangs XLA:CPU)."""
    import jax

    with pytest.raises(ValueError, match="seed_batching"):
        TrainConfig(seed_batching="pmap")
    double = lambda x: 2 * x
    xs = jax.numpy.arange(6.0).reshape(3, 2)
    for mode in ("auto", "vmap", "map"):
        config = TrainConfig(num_seeds=3, seed_batching=mode)
        over_seeds = meta_train.seed_axis(config)
        assert jax.numpy.array_equal(over_seeds(double)(xs), 2 * xs)
        if mode == "auto" and jax.default_backend() == "cpu":
            jaxpr = jax.make_jaxpr(over_seeds(double))(xs)
            assert "scan" in str(jaxpr)  # lax.map is a scan over the seeds
    assert meta_train.seed_axis(TrainConfig(num_seeds=1))(double) is double


# ------------------------------------------------------------------------- combine_runs.py
def test_combine_runs_equals_the_num_seeds_run(full_run, seeds_run, tmp_path):
    """Seeds 0 and 1 trained as two runs, then combined: the --num-seeds 2 run's report."""
    import numpy as np

    seed1 = meta_train.main([*SMOKE, "--seed", "1", "--out-dir", str(tmp_path / "seed1")])
    out = tmp_path / "combined"
    combine_runs.main([str(seed1.run_dir), str(full_run.run_dir), "--out-dir", str(out)])
    got = json.loads((out / "eval.json").read_text())
    want = json.loads((seeds_run.run_dir / "eval.json").read_text())
    assert got["seeds"] == want["seeds"] == [0, 1]
    for name, split in want["splits"].items():
        mine = got["splits"][name]
        assert mine["meta"]["row_seed"] == split["meta"]["row_seed"]
        np.testing.assert_allclose(mine["returns"], split["returns"], rtol=1e-4, atol=1e-3)
        for stat in ("return", "gain"):
            mean = lambda record, stat=stat: record["summary"]["overall"][stat]["mean"]
            assert mean(mine) == pytest.approx(mean(split), abs=1e-3)
        for a, b in zip(got["per_seed"][name], want["per_seed"][name], strict=True):
            assert a["seed"] == b["seed"] and a["mean"] == pytest.approx(b["mean"], abs=1e-3)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    seeds_rows = [
        json.loads(line) for line in (seeds_run.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["update"] for r in rows] == [r["update"] for r in seeds_rows]
    for row, ref in zip(rows, seeds_rows, strict=True):
        np.testing.assert_allclose(
            row["eval/id_test/mean_per_seed"], ref["eval/id_test/mean_per_seed"], atol=1e-3
        )
        assert row["eval/id_test/mean_ci"] is None  # no per-task returns in metrics rows
    assert (out / "learning_curve.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "in_context.png").read_bytes()[:8] == PNG_MAGIC
    assert "per seed" in (out / "eval_table.txt").read_text()
    sources = json.loads((out / "sources.json").read_text())
    assert sources["seeds"] == [0, 1] and sources["runs"][0] == str(full_run.run_dir)


def test_combine_runs_refuses_runs_it_cannot_merge(full_run, seeds_run, tmp_path):
    with pytest.raises(ValueError, match="both seed 0"):
        combine_runs.combine([full_run.run_dir, full_run.run_dir], tmp_path / "a")
    with pytest.raises(ValueError, match="trained 2 seeds in one run"):
        combine_runs.combine([full_run.run_dir, seeds_run.run_dir], tmp_path / "b")
    with pytest.raises(ValueError, match="at least two run folders"):
        combine_runs.combine([full_run.run_dir], tmp_path / "c")
    other = tmp_path / "other"
    meta_train.main([*SMOKE, "--seed", "3", "--out-dir", str(other), "--stop-after-updates", "2"])
    with pytest.raises(ValueError, match=r"has no eval\.json"):
        combine_runs.combine([full_run.run_dir, other], tmp_path / "d")
    config = json.loads((other / "config.json").read_text())
    config["config"]["ppo"]["learning_rate"] = 0.5
    (other / "config.json").write_text(json.dumps(config))
    (other / "eval.json").write_text((full_run.run_dir / "eval.json").read_text())
    with pytest.raises(ValueError, match=r"ppo\.learning_rate"):
        combine_runs.combine([full_run.run_dir, other], tmp_path / "e")
