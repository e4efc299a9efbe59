"""speed/env_throughput.py: the interval over compiled copies, and a tiny run."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "speed"))

import env_throughput  # noqa: E402


def test_mean_ci_is_the_student_t_interval():
    # [1, 2, 3]: mean 2, sample sd 1, t(0.975, 2 df) = 4.303, so 2 -+ 4.303 / sqrt(3).
    mean, low, high = env_throughput.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2.0 - 4.303 / math.sqrt(3))
    assert high == pytest.approx(2.0 + 4.303 / math.sqrt(3))
    assert env_throughput.mean_ci([0.9]) == (0.9, 0.9, 0.9)


def test_two_copies_give_a_mean_ratio_inside_its_interval():
    result = env_throughput.main(
        ["--envs", "gymnax/Pendulum-v1", "--batch", "4", "--steps", "3", "--repeats", "1",
         "--instances", "2"]
    )  # fmt: skip
    low, high = result["ratio_ci"]["gymnax/Pendulum-v1"]
    assert result["instances"] == 2
    assert low <= result["env_throughput"]["gymnax/Pendulum-v1"] <= high


def test_instances_below_one_are_refused():
    with pytest.raises(SystemExit):
        env_throughput.main(["--envs", "gymnax/Pendulum-v1", "--instances", "0"])
