"""The docs hold no stale code and no stale numbers.

* Every fenced python block of the README, the tutorial and the how-to guides runs, page by
  page in one namespace per page (the blocks use tiny sizes). A block that must not run is
  marked by an HTML comment on the line before its fence: ``<!-- not-run: reason -->``. On every
  other page a python block must carry that mark: a block is either run here or says why not.
* The results page and the README's headline sentence are generated from docs/results.json
  (``scripts/update_results.py``) and must match it.
* The benchmark tables of the README and the benchmarks reference are generated from
  ``pe.benchmarks()`` (``scripts/benchmark_table.py``) and must match the definitions.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import pytest

from projected_envs import benchmark_registry, registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN = [ROOT / "README.md", DOCS / "tutorial.md", *sorted((DOCS / "guides").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*\S.*?-->\s*$")


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """``(line, code, marked not-run)`` of every fenced python block of a markdown page."""
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) not in ("python", "py"):
            continue
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").splitlines()
        marked = bool(before) and bool(NOT_RUN.search(before[-1]))
        blocks.append((line, match.group(2), marked))
    return blocks


def load_script(name: str):
    """A module of scripts/ (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_pages_exist_and_have_code():
    assert {p.stem for p in RUN} >= {
        "README",
        "tutorial",
        "train",
        "evaluate",
        "own_loop",
        "add_env",
        "add_benchmark",
        "scale_out",
        "gymnax_trainers",
        "gymnasium",
    }
    assert all(python_blocks(p) for p in RUN if p.stem not in ("scale_out",))


def test_every_other_python_block_is_marked_not_run():
    run = set(RUN)
    unmarked = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in sorted(DOCS.rglob("*.md"))
        if p not in run
        for line, _, marked in python_blocks(p)
        if not marked
    ]
    assert not unmarked, (
        "python blocks that are neither run by tests/test_docs.py nor marked "
        f"'<!-- not-run: reason -->' on the line before the fence: {unmarked}"
    )


@pytest.mark.parametrize("path", RUN, ids=lambda p: p.stem)
def test_page_code_runs(path, tmp_path, monkeypatch):
    """The page's blocks in order, in one module (dataclasses need one in sys.modules); envs
    and benchmarks the page registers are dropped afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(benchmark_registry, "_BENCHMARKS", dict(benchmark_registry._BENCHMARKS))
    module = types.ModuleType(f"docs_{path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for line, code, marked in python_blocks(path):
        if not marked:
            exec(compile("\n" * line + code, str(path), "exec"), module.__dict__)


def test_results_page_and_readme_match_results_file():
    update = load_script("update_results")
    results = json.loads(update.RESULTS.read_text())
    for key in ("command", "commit", "machine", "date"):
        assert results[key], f"docs/results.json has no {key}"
    for path, text in update.render(results).items():
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} does not match docs/results.json; run "
            "`python scripts/update_results.py --render`"
        )


def _fake_run(run: Path, memory: str, mean: float, seed: int = 0) -> Path:
    """A finished single-seed run folder with the fields the results script reads."""
    stat = {"n": 4, "mean": mean, "mean_ci": [mean - 1, mean + 1], "iqm": mean}
    trials = {"n": 4, "mean": [mean - 0.5, mean + 0.5], "mean_ci": [[0, 0], [1, 1]]}
    gain = {"n": 4, "mean": 1.0, "mean_ci": [0.5, 1.5], "iqm": 1.0}
    summary = {"num_tasks": 4, "num_trials": 2, "overall": {"return": stat, "per_trial": trials}}
    summary["overall"]["gain"] = gain
    random = {"overall": {"return": {**stat, "mean": 0.1}, "gain": {**gain, "mean": 0.0}}}
    split = {"summary": summary, "random_summary": random, "num_trials": 2}
    record = {
        "benchmark": "point-nav",
        "env_steps": 1024,
        "seeds": [seed],
        "splits": {s: split for s in ("train", "id_test", "ood_test")},
    }
    run.mkdir()
    config = {"seed": seed, "ppo": {"memory": memory}}
    (run / "config.json").write_text(json.dumps({"config": config, "preset": "smoke"}))
    (run / "eval.json").write_text(json.dumps(record))
    (run / "profile.json").write_text(json.dumps({"total": 61.0}))
    return run


def test_update_results_reads_run_folders_into_the_page(tmp_path):
    update = load_script("update_results")
    runs = [_fake_run(tmp_path / m, m, mean) for m, mean in (("gru", 2.0), ("s5", 5.0))]
    results = update.collect(runs, command="cmd", commit="abc1234", machine="m", date="d")
    assert list(results["memories"]) == ["s5", "gru"]
    s5 = results["memories"]["s5"]
    assert s5["splits"]["id_test"]["return"] == [5.0, 4.0, 6.0]
    assert s5["per_seed"]["id_test"][0]["seed"] == 0
    assert s5["wall_seconds_per_run"] == [61.0]
    assert results["eval_tasks_per_seed"] == 4
    page = update.page_block(results)
    assert "| S5 | `id_test` | 5.00 [4.00, 6.00] |" in page and "1 min 1 s" in page
    assert "from 4.50 in a task's first trial to 5.50" in update.headline(results)
    with pytest.raises(ValueError, match="two runs of memory"):
        update.collect([runs[1], runs[1]], command="", commit="", machine="", date="")


def test_benchmark_tables_match_the_definitions():
    table = load_script("benchmark_table")
    for path, expected in (
        (table.PAGE, table.reference_table()),
        (table.README, table.readme_table()),
    ):
        assert table.replace_block(path.read_text(), expected) == path.read_text(), (
            f"{path.relative_to(ROOT)}'s benchmark table is stale; run "
            "`python scripts/benchmark_table.py --write`"
        )


def test_readme_lines_fit_100_characters():
    long = [i + 1 for i, line in enumerate((ROOT / "README.md").read_text().splitlines())
            if len(line) > 100]  # fmt: skip
    assert not long, f"README.md lines longer than 100 characters: {long}"


def test_no_page_speaks_of_how_the_work_was_organised():
    pattern = re.compile(r"\bissues? ?#?\d+|\bsessions?\b|\bthis task\b", flags=re.IGNORECASE)
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    found = [
        f"{p.relative_to(ROOT)}:{i + 1}"
        for p in pages
        for i, line in enumerate(p.read_text().splitlines())
        if pattern.search(line)
    ]
    assert not found, found
