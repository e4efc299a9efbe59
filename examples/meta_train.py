"""Meta-train an in-context RL agent (PPO + resettable S5 by default) on a benchmark, then evaluate.

    python examples/meta_train.py                       # the cpu preset: classic, ~15 CPU minutes
    python examples/meta_train.py --preset smoke        # every artifact in under 3 minutes
    python examples/meta_train.py --preset gpu --memory gru
    python examples/meta_train.py --resume runs/<run>   # continue from the newest checkpoint
    python examples/meta_train.py --help                # every field, with its comment

The host loop runs jitted **chunks** of ``updates_per_chunk`` PPO updates (``lax.scan``, no host
callbacks); between chunks it updates the progress bar, appends a row to ``metrics.jsonl``,
evaluates every split every ``eval_every`` chunks, and checkpoints every ``checkpoint_every``
updates. At the end it evaluates train / id_test / ood_test on their fixed evaluation banks,
writes ``eval.json``, prints the table and draws the plots (see ``run_folder.py`` for the folder
layout and ``docs/main_job.md`` for the protocol).

With more than one local device the env batch is sharded over them (``jax.sharding``; see
:func:`place_on_devices`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import jax
import numpy as np
import tyro
from configs import PRESETS, TrainConfig
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from run_folder import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    SPLITS,
    check_same_config,
    checkpoint_metadata,
    jsonable,
    read_config,
    truncate_metrics,
    write_config,
    write_eval_report,
    write_learning_curve,
)
from tqdm.auto import tqdm

from agents.checkpoint import CheckpointStore
from agents.evaluation import EvalResult, evaluate, format_table
from agents.ppo import RunnerState, make_init, make_update, scan_updates
from projected_envs.benchmarks import Benchmark, benchmark

PresetName = Literal["cpu", "smoke", "gpu", "dmc-lu2023"]


@dataclasses.dataclass(frozen=True)
class Args:
    """Meta-train an agent on a benchmark's train split; evaluate train, id_test and ood_test."""

    config: Annotated[TrainConfig, tyro.conf.OmitArgPrefixes]  # the run's configuration
    preset: PresetName = "cpu"  # named starting values of every config field (see configs.py)
    out_dir: Path | None = None  # run folder; default runs/<time>-<benchmark>-<memory>
    resume: Path | None = None  # continue this run folder from its newest checkpoint
    stop_after_updates: int = 0  # stop with a checkpoint after this many updates (0: never)
    tensorboard: bool = False  # also log to <run>/tensorboard (needs tensorboardX or torch)
    progress: bool = True  # show the progress bar


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns (for tests and notebooks)."""

    run_dir: Path  # the run folder
    runner_state: RunnerState  # the final training state
    finished: bool  # False when stopped early by stop_after_updates
    evals: dict[str, EvalResult]  # final evaluation per split (empty if not finished)


# ------------------------------------------------------------------------------------ CLI
def parse_args(argv: Sequence[str] | None = None) -> Args:
    """Parse the command line: a preset (or a resumed run's config) gives the defaults.

    With ``--resume RUN`` and no ``--preset``, the defaults are the run's own config, so only
    flags that differ from it are changes (and are refused by :func:`run`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=None)
    pre.add_argument("--resume", default=None)
    known, _ = pre.parse_known_args(argv)
    preset = known.preset if known.preset in PRESETS else "cpu"
    base = PRESETS[preset]
    if known.resume is not None and known.preset is None:
        try:
            base, record = read_config(known.resume)
            preset = record.get("preset", preset)
        except FileNotFoundError as err:
            raise SystemExit(f"--resume: {err}") from None
    default = Args(config=base, preset=preset)
    return tyro.cli(Args, default=default, args=argv, description=__doc__)


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<benchmark>-<memory>`` (a suffix makes it new)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-{config.benchmark}-{config.ppo.memory}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def prepare_run_dir(args: Args) -> Path:
    """The run folder: checked against the config when resuming, created (empty) otherwise."""
    if args.resume is not None:
        if args.out_dir is not None and Path(args.out_dir) != Path(args.resume):
            raise SystemExit("--out-dir and --resume name different folders; pass only --resume.")
        run_dir = Path(args.resume)
        check_same_config(run_dir, args.config)
        return run_dir
    run_dir = Path(args.out_dir) if args.out_dir is not None else default_run_dir(args.config)
    if (run_dir / CHECKPOINT_DIR).exists() or (run_dir / METRICS_FILE).exists():
        raise SystemExit(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose "
            "another --out-dir."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, args.config, args.preset)
    return run_dir


# ------------------------------------------------------------------------- compiled pieces
@functools.lru_cache(maxsize=8)
def programs(config: TrainConfig) -> tuple[Callable, Callable[[RunnerState, int], Any]]:
    """``(init, chunk)``: jitted ``init(key)`` and ``chunk(runner_state, n)`` (n static).

    Cached per config, so several runs in one process (tests) compile once.
    """
    task_set = benchmark(config.benchmark).train
    init = jax.jit(make_init(config.ppo, task_set))
    update = make_update(config.ppo, task_set)
    chunk = jax.jit(functools.partial(scan_updates, update), static_argnums=(1,))
    return init, chunk


_COMPILED: dict[tuple[TrainConfig, int], Callable] = {}


def compiled_chunk(config: TrainConfig, state: RunnerState, n: int) -> Callable:
    """``chunk(state) -> (state, metrics)`` of ``n`` updates, compiled ahead of time (cached).

    Prints the compile time, so the steps/s of the progress bar exclude compilation.
    """
    if (config, n) not in _COMPILED:
        t0 = time.perf_counter()
        _COMPILED[config, n] = programs(config)[1].lower(state, n).compile()
        print(f"compiled a chunk of {n} updates in {time.perf_counter() - t0:.1f} s")
    return _COMPILED[config, n]


def place_on_devices(runner_state: RunnerState, num_envs: int) -> RunnerState:
    """Shard the env batch of ``runner_state`` over the local devices (no-op on one device).

    Leaves of the env-batched parts (env state, obs, done, hidden, task returns) whose leading
    axis divides evenly over the devices are split along it; params, optimizer state, keys and
    counters are replicated. ``jit`` then partitions the chunk accordingly (GSPMD); gradients
    are reduced across devices by XLA. Simple data parallelism within one host.
    """
    devices = jax.local_devices()
    if len(devices) == 1:
        return runner_state
    mesh = Mesh(np.asarray(devices), ("envs",))
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("envs"))

    def put(x: jax.Array) -> jax.Array:
        ok = x.ndim >= 1 and x.shape[0] % len(devices) == 0 and x.shape[0] >= len(devices)
        return jax.device_put(x, split if ok else replicated)

    batched = (runner_state.env_state, runner_state.obs, runner_state.done)
    batched += (runner_state.hidden, runner_state.task_return)
    env_state, obs, done, hidden, task_return = jax.tree.map(put, batched)
    rest = jax.device_put(
        (runner_state.train_state, runner_state.key, runner_state.update), replicated
    )
    return runner_state._replace(
        env_state=env_state,
        obs=obs,
        done=done,
        hidden=hidden,
        task_return=task_return,
        train_state=rest[0],
        key=rest[1],
        update=rest[2],
    )


# ---------------------------------------------------------------------------- logging
def _nanmean(x: Any, axis: int = 0) -> Any:
    x = np.asarray(x, dtype=np.float64)
    if np.all(np.isnan(x)):
        return None if x.ndim <= 1 else [None] * x.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def chunk_row(metrics: dict[str, Any], num_trials: int) -> dict[str, Any]:
    """Summarise the stacked ``[n, ...]`` metrics of one chunk into a metrics.jsonl row."""
    m = jax.device_get(metrics)
    row: dict[str, Any] = {
        "update": int(m["update"][-1]),
        "env_steps": int(m["env_steps"][-1]),
        "rollout/task_return": _nanmean(m["task_return"]),
        "rollout/tasks_ended": float(np.sum(m["tasks_ended"])),
    }
    ret = row["rollout/task_return"]
    row["rollout/return_per_trial"] = None if ret is None else float(ret) / num_trials
    if "trial_returns" in m:
        row["rollout/trial_returns"] = _nanmean(m["trial_returns"])
    if "nonfinite" in m:  # steps whose obs or reward was NaN / inf (ended by FiniteGuard)
        row["rollout/nonfinite"] = float(np.sum(m["nonfinite"]))
    for name in ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
        row[f"loss/{name}" if name != "loss" else "loss/total"] = float(np.mean(m[name]))
    row["grad_norm"] = float(np.mean(m["grad_norm"]))
    return jsonable(row)


def eval_row(results: dict[str, EvalResult]) -> dict[str, Any]:
    """Per-split evaluation entries of a metrics row: mean per trial with CI, gain, per-trial
    curve, and the mean per env (``eval/<split>/<env id>/mean``)."""
    row: dict[str, Any] = {}
    for split, result in results.items():
        overall = result.summary["overall"]
        row[f"eval/{split}/mean"] = overall["return"]["mean"]
        row[f"eval/{split}/mean_ci"] = overall["return"]["mean_ci"]
        row[f"eval/{split}/gain"] = overall["gain"]["mean"]
        row[f"eval/{split}/per_trial"] = overall["per_trial"]["mean"]
        for env, summary in result.summary["per_env"].items():
            row[f"eval/{split}/{env}/mean"] = summary["return"]["mean"]
    return jsonable(row)


def evaluate_splits(
    config: TrainConfig,
    bench: Benchmark,
    params: Any,
    per_env: int,
    *,
    num_trials: int | None = None,
    with_random: bool = False,
    num_resamples: int = 200,
) -> dict[str, EvalResult]:
    """Evaluate ``params`` on every split of ``bench`` (fixed banks, fresh memory per task)."""
    return {
        split: evaluate(
            params,
            config.ppo,
            task_set,
            num_trials=num_trials,
            per_env=per_env,
            seed=config.seed,
            deterministic=config.deterministic_eval,
            with_random=with_random,
            num_resamples=num_resamples,
        )
        for split, task_set in bench.splits.items()
    }


class _TensorBoard:
    """Scalars of metrics rows to TensorBoard, if tensorboardX or torch is installed."""

    def __init__(self, log_dir: Path):
        self.writer = None
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("--tensorboard: neither tensorboardX nor torch is installed; skipping it.")
                return
        self.writer = SummaryWriter(str(log_dir))

    def log(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for name, value in row.items():
            if isinstance(value, int | float) and name not in ("env_steps", "update"):
                self.writer.add_scalar(name, value, row["env_steps"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---------------------------------------------------------------------------- the run
def _restore_or_init(
    config: TrainConfig, store: CheckpointStore, resume: bool
) -> tuple[RunnerState, float]:
    """Fresh runner state, or the newest checkpoint's; and the wall time spent so far."""
    init, _ = programs(config)
    state = init(jax.random.PRNGKey(config.seed))
    if not resume or store.latest_step() is None:
        return state, 0.0
    state, meta = store.restore(state, expect=checkpoint_metadata(config))
    return state, float(meta.get("wall_time", 0.0))


def _chunk_sizes(config: TrainConfig, start: int) -> list[int]:
    """Updates per chunk from update ``start`` to the end (the last may be shorter)."""
    sizes, update = [], start
    while update < config.num_updates:
        n = min(config.updates_per_chunk, config.num_updates - update)
        sizes.append(n)
        update += n
    return sizes


def train_loop(args: Args, run_dir: Path) -> tuple[RunnerState, bool]:
    """The host loop over jitted chunks; returns the final state and whether it finished."""
    config = args.config
    bench = benchmark(config.benchmark)
    store = CheckpointStore(run_dir / CHECKPOINT_DIR, max_to_keep=config.keep_checkpoints)
    state, wall_before = _restore_or_init(config, store, args.resume is not None)
    start = int(state.update)
    if args.resume is not None:
        truncate_metrics(run_dir, start)
        print(f"resuming {run_dir} at update {start} / {config.num_updates}")
    state = place_on_devices(state, config.ppo.num_envs)
    tb = _TensorBoard(run_dir / "tensorboard") if args.tensorboard else None
    bar = tqdm(
        total=config.total_env_steps,
        initial=start * config.ppo.steps_per_update,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        disable=not args.progress,
        desc=f"{config.benchmark} {config.ppo.memory}",
    )
    t_start, last_saved, finished = time.perf_counter(), start, True
    meta = checkpoint_metadata(config)
    with (run_dir / METRICS_FILE).open("a") as metrics_file:
        if start == 0 and config.eval_every:  # the untrained agent: the curve's first point
            evals = evaluate_splits(config, bench, state.train_state.params, config.eval_per_env)
            row = {"update": 0, "env_steps": 0, **eval_row(evals)}
            row["wall_time"] = wall_before + time.perf_counter() - t_start
            metrics_file.write(json.dumps(row) + "\n")
        for index, n in enumerate(_chunk_sizes(config, start)):
            chunk = compiled_chunk(config, state, n)
            t0 = time.perf_counter()
            state, metrics = chunk(state)
            row = chunk_row(metrics, bench.train.num_trials)
            seconds = time.perf_counter() - t0
            update = row["update"]
            row["chunk_seconds"] = seconds
            row["steps_per_second"] = n * config.ppo.steps_per_update / seconds
            done_all = update >= config.num_updates
            if config.eval_every and ((index + 1) % config.eval_every == 0 or done_all):
                evals = evaluate_splits(
                    config, bench, state.train_state.params, config.eval_per_env
                )
                row.update(eval_row(evals))
            row["wall_time"] = wall_before + time.perf_counter() - t_start
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
            if tb is not None:
                tb.log(row)
            bar.update(n * config.ppo.steps_per_update)
            bar.set_postfix(_postfix(row), refresh=False)
            stop = bool(args.stop_after_updates) and update >= args.stop_after_updates
            if done_all or stop or update - last_saved >= config.checkpoint_every:
                store.save(update, state, {**meta, "update": update, **_progress(row)})
                last_saved = update
            if stop and not done_all:
                finished = False
                break
    bar.close()
    store.close()
    if tb is not None:
        tb.close()
    return state, finished


def _progress(row: dict[str, Any]) -> dict[str, Any]:
    return {"env_steps": row["env_steps"], "wall_time": row["wall_time"]}


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    post = {"sps": f"{row['steps_per_second']:.0f}"}
    if row.get("rollout/return_per_trial") is not None:
        post["return"] = f"{row['rollout/return_per_trial']:.2f}"
    for split in SPLITS:
        if row.get(f"eval/{split}/mean") is not None:
            post[split] = f"{row[f'eval/{split}/mean']:.2f}"
    return post


def final_report(config: TrainConfig, run_dir: Path, state: RunnerState) -> dict[str, EvalResult]:
    """Evaluate every split with the random reference; write eval.json, table and plots."""
    bench = benchmark(config.benchmark)
    trials = config.final_eval_trials or None
    evals = evaluate_splits(
        config,
        bench,
        state.train_state.params,
        config.final_eval_per_env,
        num_trials=trials,
        with_random=True,
        num_resamples=2000,
    )
    header = {
        "benchmark": config.benchmark,
        "benchmark_fingerprint": bench.fingerprint,
        "update": int(state.update),
        "env_steps": int(state.update) * config.ppo.steps_per_update,
        "train_num_trials": bench.train.num_trials,
    }
    paths = write_eval_report(run_dir, evals, header=header, train_trials=bench.train.num_trials)
    curve = write_learning_curve(run_dir, title=f"{config.benchmark}, memory={config.ppo.memory}")
    print(format_table(evals))
    for path in (*paths.values(), curve):
        print(f"wrote {path}")
    return evals


def run(args: Args) -> RunResult:
    """The main job: prepare the folder, train (or resume), evaluate, report."""
    run_dir = prepare_run_dir(args)
    print(f"run folder: {run_dir}")
    state, finished = train_loop(args, run_dir)
    if not finished:
        print(f"stopped at update {int(state.update)}; continue with --resume {run_dir}")
        return RunResult(run_dir, state, False, {})
    return RunResult(run_dir, state, True, final_report(args.config, run_dir, state))


def main(argv: Sequence[str] | None = None) -> RunResult:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``) and :func:`run`."""
    return run(parse_args(argv))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad input: the message names the fix
        raise SystemExit(f"error: {err}") from None
