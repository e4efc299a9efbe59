"""The how-to guides' code blocks run, page by page, in one namespace per page."""

from __future__ import annotations

import pathlib
import re

import pytest

GUIDES = sorted((pathlib.Path(__file__).parents[1] / "docs" / "guides").glob("*.md"))


def code_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_every_guide_has_code():
    assert len(GUIDES) == 3
    assert all(code_blocks(path) for path in GUIDES)


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.stem)
def test_guide_code_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"guide_{path.stem}"}
    for block in code_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)
