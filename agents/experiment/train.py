"""Meta-train an in-context RL agent (PPO + resettable S5 by default) on a benchmark, then evaluate.

The main job behind ``examples/meta_train.py`` (its command line is :func:`main`)::

    python examples/meta_train.py                       # cpu preset: point-nav, 4-5 min, 2 cores
    python examples/meta_train.py --preset smoke        # every artifact in under 3 minutes
    python examples/meta_train.py --preset gpu --memory gru
    python examples/meta_train.py --resume runs/<run>   # continue from the newest checkpoint
    python examples/meta_train.py --help                # every field, with its comment

The host loop runs jitted **chunks** of ``updates_per_chunk`` PPO updates (``lax.scan``, no host
callbacks); between chunks it updates the progress bar, appends a row to ``metrics.jsonl``,
evaluates every split every ``eval_every`` chunks, and checkpoints every ``checkpoint_every``
updates. At the end it evaluates train / id_test / ood_test on their fixed evaluation banks,
writes ``eval.json``, prints the table and draws the plots (see
:mod:`agents.experiment.run_folder` for the folder layout and ``docs/reference/evaluation.md`` for
the protocol).

``--num-seeds N`` trains seeds ``seed .. seed+N-1`` together (vmapped: one program, one
compile; every state leaf gets a leading seed axis, all seeds live in one checkpoint). Metrics
rows average over seeds and keep the rollout returns per seed; the evaluations run per seed
and aggregate over seeds x tasks (stratified bootstrap, envs as strata).

With more than one device the env slots are split over them and params replicated
(``jax.sharding``, see :mod:`agents.sharding`); ``--coordinator-address``, ``--num-processes``
and ``--process-id`` join a multi-host job (docs/guides/scale_out.md).
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
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from agents.checkpoint import CheckpointStore
from agents.evaluation import EvalResult, combine_seeds, evaluate, format_table
from agents.experiment import multihost
from agents.experiment.configs import PRESETS, TrainConfig, with_resolved_scan
from agents.experiment.profile import RunProfile
from agents.experiment.run_folder import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    SPLITS,
    check_same_config,
    checkpoint_metadata,
    format_seed_table,
    jsonable,
    merge_seed_rows,
    per_seed_summary,
    read_config,
    truncate_metrics,
    write_config,
    write_eval_report,
    write_learning_curve,
)
from agents.experiment.trajectories import has_paths, write_trajectory_figure
from agents.ppo import RunnerState, make_init, make_update, scan_updates
from agents.sharding import (
    check_env_split,
    env_mesh,
    host_copy,
    place,
    runner_shardings,
)
from projected_envs import meta_cartpole, probes_obs  # noqa: F401  (register their benchmarks)
from projected_envs.benchmark_registry import Benchmark, benchmark

PresetName = Literal["cpu", "smoke", "gpu", "dmc-lu2023"]


PROFILE_FILE = "profile.json"
# Seconds per phase of the current run (reset by `run`; the phases time themselves through it).
PROFILE = RunProfile()


@dataclasses.dataclass(frozen=True)
class Args:
    """Meta-train an agent on a benchmark's train split; evaluate train, id_test and ood_test."""

    config: Annotated[TrainConfig, tyro.conf.OmitArgPrefixes]  # the run's configuration
    preset: PresetName = "cpu"  # named starting values of every config field (configs.PRESETS)
    out_dir: Path | None = None  # run folder; default runs/<time>-<benchmark>-<memory>
    resume: Path | None = None  # continue this run folder from its newest checkpoint
    stop_after_updates: int = 0  # stop with a checkpoint after this many updates (0: never)
    tensorboard: bool = False  # also log to <run>/tensorboard (needs tensorboardX or torch)
    progress: bool = True  # show the progress bar
    coordinator_address: str | None = None  # multi-host: host:port of process 0
    num_processes: int | None = None  # multi-host: processes in the job
    process_id: int | None = None  # multi-host: this process's index (0 writes the run folder)


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
    if jax.process_count() > 1 and args.out_dir is None:
        raise SystemExit("a multi-process run needs --out-dir (the same folder on every process).")
    if not is_main_process():
        return run_dir
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
    """``(init, chunk)``: jitted ``init(keys)``, and ``chunk(runner_state, n)`` (n static; jitted
    with the run's shardings by :func:`compiled_chunk`).

    With ``num_seeds > 1`` both are vmapped over a leading seed axis (``keys [S, 2]``, every
    state leaf ``[S, ...]``, metrics ``[S, n, ...]``): all seeds run in one program, one
    compile. Cached per config, so several runs in one process (tests) trace once.
    """
    task_set = benchmark(config.benchmark).train
    init = make_init(config.ppo, task_set)
    update = make_update(config.ppo, task_set)
    over_seeds = seed_axis(config)

    def chunk(state: RunnerState, n: int) -> tuple[RunnerState, Any]:
        return over_seeds(functools.partial(scan_updates, update, num_updates=n))(state)

    return jax.jit(over_seeds(init)), chunk


def seed_axis(config: TrainConfig) -> Callable[[Callable], Callable]:
    """How a per-seed function runs over the leading seed axis (identity for one seed).

    ``seed_batching="vmap"`` batches the seeds (``jax.vmap``); ``"map"`` runs them one after
    the other inside the same program (``jax.lax.map``: same compile count, no batching);
    ``"auto"`` picks ``"map"`` on CPU, where the vmapped S5 program can hang in XLA:CPU's
    runtime (jax 0.10: every thread idle in ``block_until_ready``; seen with the cpu preset and
    with tiny configs), and ``"vmap"`` on accelerators.
    """
    if config.num_seeds == 1:
        return lambda fn: fn
    mode = config.seed_batching
    if mode == "auto":
        mode = "map" if jax.default_backend() == "cpu" else "vmap"
    if mode == "vmap":
        return jax.vmap
    return lambda fn: functools.partial(jax.lax.map, fn)


def init_keys(config: TrainConfig) -> jax.Array:
    """``PRNGKey(seed)``, or the stacked keys ``[S, 2]`` of ``config.seeds``."""
    if config.num_seeds == 1:
        return jax.random.PRNGKey(config.seed)
    return jax.numpy.stack([jax.random.PRNGKey(s) for s in config.seeds])


def job_mesh(config: TrainConfig) -> Mesh | None:
    """The device mesh of the run (None on one device); refuses an uneven split of the envs."""
    if jax.device_count() == 1:
        return None
    check_env_split(benchmark(config.benchmark).train, config.ppo.num_envs, jax.device_count())
    return env_mesh()


def initial_state(config: TrainConfig, mesh: Mesh | None) -> RunnerState:
    """The freshly initialised runner state, placed on the mesh (env slots split)."""
    state = programs(config)[0](init_keys(config))
    if mesh is None:
        return state
    return place(state, runner_shardings(state, mesh, seed_axis=config.num_seeds > 1))


_COMPILED: dict[tuple[TrainConfig, int, int], Callable] = {}


def compiled_chunk(config: TrainConfig, state: RunnerState, n: int, mesh: Mesh | None) -> Callable:
    """``chunk(state) -> (state, metrics)`` of ``n`` updates, compiled ahead of time (cached).

    On a mesh the state keeps its sharding across chunks (``in_shardings == out_shardings``)
    and the metrics come back replicated. Prints the compile time, so the steps/s of the
    progress bar exclude compilation.
    """
    key = (config, n, 1 if mesh is None else mesh.size)
    if key not in _COMPILED:
        t0 = time.perf_counter()
        chunk = programs(config)[1]
        if mesh is None:
            jitted = jax.jit(chunk, static_argnums=(1,))
        else:
            shardings = runner_shardings(state, mesh, seed_axis=config.num_seeds > 1)
            replicated = NamedSharding(mesh, PartitionSpec())
            jitted = jax.jit(
                chunk,
                static_argnums=(1,),
                in_shardings=(shardings,),
                out_shardings=(shardings, replicated),
            )
        _COMPILED[key] = jitted.lower(state, n).compile()
        say(f"compiled a chunk of {n} updates in {time.perf_counter() - t0:.1f} s")
    return _COMPILED[key]


def is_main_process() -> bool:
    """True on the process that writes the run folder (process 0 of a multi-process job)."""
    return jax.process_index() == 0


def say(message: str) -> None:
    """Print on the main process only."""
    if is_main_process():
        print(message)


def seed_params(config: TrainConfig, params: Any) -> list[Any]:
    """Host copies of the params of each seed (a list of one without ``--num-seeds``)."""
    params = host_copy(params)
    if config.num_seeds == 1:
        return [params]
    return [jax.tree.map(lambda x, i=i: x[i], params) for i in range(config.num_seeds)]


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
    if "aux_loss" in m:  # PPOConfig.aux_loss
        row["loss/aux_loss"] = float(np.mean(m["aux_loss"]))
    row["grad_norm"] = float(np.mean(m["grad_norm"]))
    return jsonable(row)


def seeds_row(metrics: dict[str, Any], num_trials: int, num_seeds: int) -> dict[str, Any]:
    """A metrics.jsonl row of a chunk of ``num_seeds`` vmapped runs (metrics ``[S, n, ...]``):
    the per-seed :func:`chunk_row` rows merged by
    :func:`~agents.experiment.run_folder.merge_seed_rows` (means
    over seeds, the rollout returns also kept per seed as ``<name>_per_seed`` lists)."""
    if num_seeds == 1:
        return chunk_row(metrics, num_trials)
    m = jax.device_get(metrics)
    rows = [chunk_row(jax.tree.map(lambda x, i=i: x[i], m), num_trials) for i in range(num_seeds)]
    return merge_seed_rows(rows)


def eval_row(
    results: dict[str, EvalResult], per_seed: Sequence[dict[str, EvalResult]] = ()
) -> dict[str, Any]:
    """Per-split evaluation entries of a metrics row: mean per trial with CI, gain, per-trial
    curve, and the mean per env (``eval/<split>/<env id>/mean``); with several seeds also
    ``eval/<split>/mean_per_seed`` and ``eval/<split>/gain_per_seed`` (lists, seed order)."""
    row: dict[str, Any] = {}
    for split, result in results.items():
        overall = result.summary["overall"]
        row[f"eval/{split}/mean"] = overall["return"]["mean"]
        row[f"eval/{split}/mean_ci"] = overall["return"]["mean_ci"]
        row[f"eval/{split}/gain"] = overall["gain"]["mean"]
        row[f"eval/{split}/per_trial"] = overall["per_trial"]["mean"]
        for env, summary in result.summary["per_env"].items():
            row[f"eval/{split}/{env}/mean"] = summary["return"]["mean"]
        if len(per_seed) > 1:
            row[f"eval/{split}/mean_per_seed"] = [r[split].mean for r in per_seed]
            row[f"eval/{split}/gain_per_seed"] = [r[split].gain for r in per_seed]
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
    seed: int | None = None,
) -> dict[str, EvalResult]:
    """Evaluate ``params`` on every split of ``bench`` (fixed banks, fresh memory per task).

    ``seed`` (default ``config.seed``) seeds the env and action noise.
    """
    return {
        split: evaluate(
            params,
            config.ppo,
            task_set,
            num_trials=num_trials,
            per_env=per_env,
            seed=config.seed if seed is None else seed,
            deterministic=config.deterministic_eval,
            with_random=with_random,
            num_resamples=num_resamples,
        )
        for split, task_set in bench.splits.items()
    }


def evaluate_seeds(
    config: TrainConfig, bench: Benchmark, params: Any, per_env: int, **kwargs: Any
) -> tuple[dict[str, EvalResult], list[dict[str, EvalResult]]]:
    """Evaluate every seed's params (seed ``s`` with noise seed ``s``) on every split.

    Returns:
        ``(combined, per_seed)``: per split, the seeds' results stacked along the task axis
        (:func:`agents.evaluation.combine_seeds`: stratified bootstrap over seeds x tasks with
        the envs as strata); and each seed's own results, in ``config.seeds`` order.
    """
    per_seed = [
        evaluate_splits(config, bench, p, per_env, seed=s, **kwargs)
        for s, p in zip(config.seeds, seed_params(config, params))
    ]
    if len(per_seed) == 1:
        return per_seed[0], per_seed
    combined = {split: combine_seeds([r[split] for r in per_seed]) for split in per_seed[0]}
    return combined, per_seed


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
    config: TrainConfig, store: CheckpointStore, resume: bool, mesh: Mesh | None
) -> tuple[RunnerState, float]:
    """Fresh runner state, or the newest checkpoint's (same sharding); wall time so far."""
    state = initial_state(config, mesh)
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
    """The host loop over jitted chunks; returns the final state and whether it finished.

    Every process of a multi-process job runs it (the chunks are collective programs); only
    the main process evaluates and writes files. Checkpoints are written by orbax from the
    global arrays: one checkpoint per step, shared by all processes.
    """
    config, main = args.config, is_main_process()
    bench = benchmark(config.benchmark)
    mesh = job_mesh(config)
    store = CheckpointStore(run_dir / CHECKPOINT_DIR, max_to_keep=config.keep_checkpoints)
    with PROFILE.phase("init or restore"):
        state, wall_before = _restore_or_init(config, store, args.resume is not None, mesh)
    start = int(host_copy(state.update).reshape(-1)[0])
    if args.resume is not None:
        if main:
            truncate_metrics(run_dir, start)
        say(f"resuming {run_dir} at update {start} / {config.num_updates}")
    if mesh is not None:
        say(f"data parallel over {mesh.size} devices ({jax.process_count()} processes)")
    tb = _TensorBoard(run_dir / "tensorboard") if args.tensorboard and main else None
    steps_per_chunk_update = config.ppo.steps_per_update * config.num_seeds
    bar = tqdm(
        total=config.total_env_steps * config.num_seeds,
        initial=start * steps_per_chunk_update,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        disable=not (args.progress and main),
        desc=f"{config.benchmark} {config.ppo.memory}",
    )
    t_start, last_saved, finished = time.perf_counter(), start, True
    meta = checkpoint_metadata(config)
    metrics_file = (run_dir / METRICS_FILE).open("a") if main else None

    def evaluation_row() -> dict[str, Any]:
        # These evaluations skip the random policy (with_random=False), so normalised scores
        # are NaN by choice and metrics.jsonl does not log them; the final evaluation runs the
        # random policy and still warns about envs whose reference is unusable.
        with warnings.catch_warnings(), PROFILE.phase("evaluations during training"):
            warnings.filterwarnings("ignore", message="normalised scores are NaN")
            combined, per_seed = evaluate_seeds(
                config, bench, state.train_state.params, config.eval_per_env
            )
        return eval_row(combined, per_seed)

    def write(row: dict[str, Any]) -> None:
        if metrics_file is not None:
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()

    if start == 0 and config.eval_every and main:  # the untrained agent: the curve's first point
        row = {"update": 0, "env_steps": 0, **evaluation_row()}
        row["wall_time"] = wall_before + time.perf_counter() - t_start
        write(row)
    for index, n in enumerate(_chunk_sizes(config, start)):
        with PROFILE.phase("compile chunks"):
            chunk = compiled_chunk(config, state, n, mesh)
        t0 = time.perf_counter()
        with PROFILE.phase("training chunks"):
            state, metrics = chunk(state)
            row = seeds_row(host_copy(metrics), bench.train.num_trials, config.num_seeds)
        seconds = time.perf_counter() - t0
        update = row["update"]
        row["chunk_seconds"] = seconds
        row["steps_per_second"] = n * steps_per_chunk_update / seconds  # all seeds together
        done_all = update >= config.num_updates
        if config.eval_every and ((index + 1) % config.eval_every == 0 or done_all) and main:
            row.update(evaluation_row())
        row["wall_time"] = wall_before + time.perf_counter() - t_start
        write(row)
        if tb is not None:
            tb.log(row)
        bar.update(n * steps_per_chunk_update)
        bar.set_postfix(_postfix(row), refresh=False)
        stop = bool(args.stop_after_updates) and update >= args.stop_after_updates
        if done_all or stop or update - last_saved >= config.checkpoint_every:
            with PROFILE.phase("checkpoints"):
                store.save(update, state, {**meta, "update": update, **_progress(row)})
            last_saved = update
        if stop and not done_all:
            finished = False
            break
    bar.close()
    store.close()
    if metrics_file is not None:
        metrics_file.close()
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


def _final_evaluation(
    config: TrainConfig, state: RunnerState, num_trials: int | None
) -> tuple[dict[str, EvalResult], list[dict[str, EvalResult]]]:
    """:func:`evaluate_seeds` on the final bank (``final_eval_per_env``) with the random
    reference and 2000 bootstrap resamples; ``num_trials`` None: the benchmark's."""
    return evaluate_seeds(
        config,
        benchmark(config.benchmark),
        state.train_state.params,
        config.final_eval_per_env,
        num_trials=num_trials,
        with_random=True,
        num_resamples=2000,
    )


def final_report(config: TrainConfig, run_dir: Path, state: RunnerState) -> dict[str, EvalResult]:
    """Evaluate every split (every seed) with the random reference; write eval.json, table and
    plots. With several seeds the splits of eval.json aggregate seeds x tasks and
    ``per_seed`` holds each seed's own summary."""
    bench = benchmark(config.benchmark)
    trials = config.final_eval_trials or None
    with PROFILE.phase("final evaluation"):
        evals, per_seed = _final_evaluation(config, state, trials)
    update = int(host_copy(state.update).reshape(-1)[0])
    header: dict[str, Any] = {
        "benchmark": config.benchmark,
        "benchmark_fingerprint": bench.fingerprint,
        "update": update,
        "env_steps": update * config.ppo.steps_per_update,
        "train_num_trials": bench.train.num_trials,
        "seeds": list(config.seeds),
    }
    if config.num_seeds > 1:
        header["per_seed"] = per_seed_summary(config.seeds, per_seed)
    with PROFILE.phase("reports and plots"):
        paths = write_eval_report(
            run_dir, evals, header=header, train_trials=bench.train.num_trials
        )
        title = f"{config.benchmark}, memory={config.ppo.memory}"
        curve = write_learning_curve(run_dir, title=title)
        print(format_table(evals))
        if config.num_seeds > 1:
            table = format_seed_table(header["per_seed"])
            print(table)
            with paths["table"].open("a") as f:
                f.write("\nper seed\n" + table + "\n")
        for path in (*paths.values(), curve):
            print(f"wrote {path}")
        if has_paths(bench):  # hidden-goal benchmarks: where the agent goes in trials 1..K
            params = seed_params(config, state.train_state.params)[0]
            figure = run_dir / "trajectories.png"
            figure = write_trajectory_figure(
                bench, params, config.ppo, figure, deterministic=config.deterministic_eval
            )
            print(f"wrote {figure}")
    if config.extrapolation_trials:
        extrapolation_report(config, run_dir, state, header)
    return evals


def extrapolation_report(
    config: TrainConfig, run_dir: Path, state: RunnerState, header: dict[str, Any]
) -> dict[str, EvalResult]:
    """Evaluate every split with ``extrapolation_trials`` trials per task (past the training
    horizon, e.g. 2x K); write ``extrapolation_eval.json``, its table and in-context plot."""
    bench = benchmark(config.benchmark)
    with PROFILE.phase("extrapolation evaluation"):
        evals, per_seed = _final_evaluation(config, state, config.extrapolation_trials)
    header = {**header, "num_trials": config.extrapolation_trials}
    if config.num_seeds > 1:
        header["per_seed"] = per_seed_summary(config.seeds, per_seed)
    paths = write_eval_report(
        run_dir,
        evals,
        header=header,
        train_trials=bench.train.num_trials,
        prefix="extrapolation_",
    )
    print(f"extrapolation to {config.extrapolation_trials} trials per task:")
    print(format_table(evals, per_env=False))
    for path in paths.values():
        print(f"wrote {path}")
    return evals


def run(args: Args) -> RunResult:
    """The main job: prepare the folder, train (or resume), evaluate, report.

    The main process also writes ``profile.json`` (:class:`RunProfile`: wall seconds per phase
    of this process) and prints it as a table.
    """
    global PROFILE
    PROFILE = RunProfile()
    args = dataclasses.replace(args, config=with_resolved_scan(args.config))
    run_dir = prepare_run_dir(args)
    say(f"run folder: {run_dir}")
    state, finished = train_loop(args, run_dir)
    if not finished:
        say(
            f"stopped at update {int(host_copy(state.update).reshape(-1)[0])}; continue with "
            f"--resume {run_dir}"
        )
        evals = {}
    elif is_main_process():
        evals = final_report(args.config, run_dir, state)
    else:
        return RunResult(run_dir, state, True, {})
    if is_main_process():
        (run_dir / PROFILE_FILE).write_text(json.dumps(PROFILE.summary(), indent=2) + "\n")
        print(f"where the time went (wrote {run_dir / PROFILE_FILE}):\n{PROFILE.table()}")
    return RunResult(run_dir, state, finished, evals)


def main(argv: Sequence[str] | None = None) -> RunResult:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), join a multi-process job if
    configured, and :func:`run`."""
    args = parse_args(argv)
    multihost.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    return run(args)
