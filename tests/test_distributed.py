"""Data parallelism over devices and processes: same numbers as one device, refusals, resume.

The device count is fixed when JAX starts, so every multi-device run happens in a subprocess
(``tests/distributed_worker.py``) with ``--xla_force_host_platform_device_count=N``; the
multi-process test starts two such processes that join one job over gloo (CPU collectives).
All runs use the smoke preset at 16 env slots (4 per env of ``classic``, so 1, 2 and 4 devices
all split evenly) and skip evaluation; the compiled chunks land in the persistent cache.

**Tolerance**: a sharded run reduces the gradient over devices in another order than one
device does, so final params are compared with ``rtol=1e-4, atol=1e-5`` (after 2 updates of 1
epoch x 2 minibatches; measured: largest absolute difference 0 to 3e-8, params up to ~20). The
two processes of one job must end bitwise equal to each other.

The subprocess tests take 2-3 minutes each on a 2-core CPU and are marked ``slow``::

    python -m pytest -m slow tests/test_distributed.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.sharding import check_env_split, valid_num_envs
from projected_envs.benchmark_registry import benchmark

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"
FLAGS = ["--preset", "smoke", "--no-progress", "--num-envs", "16", "--eval-every", "0"]
RTOL, ATOL = 1e-4, 1e-5


def run_worker(
    out: Path, flags: list[str], devices: int = 1, check: bool = True
) -> subprocess.Popen | subprocess.CompletedProcess:
    """Run the worker with ``devices`` forced CPU devices; returns the finished process."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, str(WORKER), str(out), *flags]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"worker failed:\n{result.stdout}\n{result.stderr}")
    return result


def params_of(path: Path) -> list[np.ndarray]:
    data = np.load(path)
    return [data[f"leaf{i}"] for i in range(sum(k.startswith("leaf") for k in data.files))]


def assert_params_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------- refusals
def test_uneven_split_is_refused_naming_valid_num_envs():
    task_set = benchmark("classic").train
    sizes = task_set.group_sizes(8)
    assert any(size % 4 for size in sizes)  # 8 slots cannot put 1 slot of each env per device
    with pytest.raises(ValueError) as err:
        check_env_split(task_set, 8, 4)
    message = str(err.value)
    valid = valid_num_envs(task_set, 4)
    assert f"Valid num_envs: {valid}" in message and "num_envs=8" in message
    assert valid[0] == 16
    for n in valid:  # an independent check of every value offered
        assert all(size % 4 == 0 for size in task_set.group_sizes(n))
        check_env_split(task_set, n, 4)


# ---------------------------------------------------------------------------- multi-device
@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    run_worker(out / "p.npz", [*FLAGS, "--out-dir", str(out / "run")])
    return params_of(out / "p.npz")


@pytest.mark.slow
@pytest.mark.parametrize("devices", [2, 4])
def test_sharded_run_matches_one_device(one_device, tmp_path, devices):
    run_worker(tmp_path / "p.npz", [*FLAGS, "--out-dir", str(tmp_path / "run")], devices)
    data = np.load(tmp_path / "p.npz")
    assert int(data["obs_devices"]) == devices  # the env slots really were split
    assert_params_close(params_of(tmp_path / "p.npz"), one_device)


@pytest.mark.slow
def test_sharded_run_refuses_an_uneven_split(tmp_path):
    flags = [*FLAGS, "--num-envs", "8", "--num-minibatches", "2", "--out-dir", str(tmp_path)]
    result = run_worker(tmp_path / "p.npz", flags, devices=4, check=False)
    assert result.returncode != 0
    assert "Valid num_envs: [16, 32" in result.stderr


@pytest.mark.slow
def test_sharded_num_seeds_matches_one_device(tmp_path):
    flags = [*FLAGS, "--num-seeds", "2"]
    run_worker(tmp_path / "one.npz", [*flags, "--out-dir", str(tmp_path / "one")], 1)
    run_worker(tmp_path / "two.npz", [*flags, "--out-dir", str(tmp_path / "two")], 2)
    one, two = params_of(tmp_path / "one.npz"), params_of(tmp_path / "two.npz")
    assert one[0].shape[0] == 2  # the seed axis
    assert_params_close(two, one)


# ---------------------------------------------------------------------------- multi-process
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(out: Path, flags: list[str]) -> None:
    """Two processes of one job (one CPU device each) run the worker together."""
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), "XLA_FLAGS": ""}
    procs = []
    for pid in range(2):
        job = ["--coordinator-address", address, "--num-processes", "2", "--process-id", str(pid)]
        cmd = [sys.executable, str(WORKER), str(out), *flags, *job]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        if p.returncode != 0:
            raise AssertionError(f"process failed:\n{stdout.decode()}\n{stderr.decode()}")


@pytest.mark.slow
def test_two_processes_train_together_checkpoint_once_and_resume(one_device, tmp_path):
    run_dir = tmp_path / "run"
    flags = [*FLAGS, "--updates-per-chunk", "1", "--out-dir", str(run_dir)]  # stop after 1
    run_two_processes(tmp_path / "first.npz", [*flags, "--stop-after-updates", "1"])
    assert [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()] == ["1"]
    resume = ["--resume", str(run_dir), "--no-progress"]
    run_two_processes(tmp_path / "second.npz", resume)
    p0, p1 = params_of(tmp_path / "second.0.npz"), params_of(tmp_path / "second.1.npz")
    for a, b in zip(p0, p1):
        np.testing.assert_array_equal(a, b)  # one job: the same params on both processes
    assert_params_close(p0, one_device)  # and the one-device run's (16 slots, 2 updates)
    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [1, 2]
    rows = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # written by process 0 only: one row per chunk
