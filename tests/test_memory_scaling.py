"""speed/memory_scaling.py: the exponent fit on known power laws, and a tiny end-to-end run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "speed"))

import memory_scaling


def test_lengths_double_up_to_the_maximum():
    assert memory_scaling.lengths(64, 4096) == [64, 128, 256, 512, 1024, 2048, 4096]
    assert memory_scaling.lengths(64, 100) == [64]


@pytest.mark.parametrize("power", [0.0, 1.0, 2.0])
def test_fit_exponent_recovers_a_power_law_over_the_upper_half(power):
    ts = [64, 128, 256, 512, 1024, 2048]
    # A fixed overhead dominates the short lengths; the fit uses the upper half, where it doesn't.
    times = [1e-9 * t**power * (100.0 if t < 256 else 1.0) for t in ts]
    assert memory_scaling.fit_exponent(ts, times) == pytest.approx(power, abs=1e-6)
    assert np.isnan(memory_scaling.fit_exponent([64, 128], [1.0, float("nan")]))


def test_bad_flags_are_refused():
    with pytest.raises(SystemExit):
        memory_scaling.parse_args(["--memories", "s5,mamba"])
    with pytest.raises(SystemExit):
        memory_scaling.parse_args(["--min-len", "128", "--max-len", "64"])


def test_tiny_run_ends_with_the_json_of_ratios_to_s5(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    argv = ["--min-len", "4", "--max-len", "8", "--batch", "1", "--width", "8", "--layers", "1"]
    argv += ["--heads", "2", "--window", "2", "--repeats", "1", "--json", str(out)]
    summary = memory_scaling.main([*argv, "--memories", "s5,transformer"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(out.read_text()) == summary
    assert summary["lengths"] == [4, 8] and summary["max_len"] == 8
    assert set(summary["fwd_bwd_ratio_to_s5"]) == {"transformer"}
    times = summary["fwd_bwd_s"]
    expected = times["transformer"][-1] / times["s5"][-1]
    assert summary["fwd_bwd_ratio_to_s5"]["transformer"] == pytest.approx(expected, rel=1e-2)
