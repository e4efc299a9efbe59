#!/usr/bin/env bash
# In-context learning at GPU scale in one prepared run (<= 10 minutes on one H100, install and
# compilation included): the gpu preset for S5, GRU and memoryless, NUM_SEEDS seeds each.
#
#   bash scripts/gpu_learning.sh OUT_DIR           # on the GPU host, from the repo root
#   bash scripts/gpu_learning.sh OUT_DIR --tiny    # the same code path at CPU-sized shapes
#
# Writes OUT_DIR/<memory>/ (the run folder: eval.json, metrics.jsonl, learning_curve.png,
# in_context.png, extrapolation_eval.json with 2x the training trials, ...) for each memory,
# and OUT_DIR/summary.json (scripts/learning_summary.py: per memory and split, mean return
# and in-context gain with 95% CIs over seeds x tasks, random reference, env steps trained,
# steps/s).
#
# Sizing: the whole script aims to end TOTAL_SECONDS (default 570) after it starts. Each run
# trains for T seconds after compilation, T = min(RUN_SECONDS (default 100), remaining time /
# runs left - overhead), where the overhead (compilation, evaluations; default OVERHEAD=100 s)
# is measured on each run for the next (its wall time minus its seconds in training chunks).
# Its total_timesteps (per seed) is T x an env-steps/s estimate (all seeds together) /
# NUM_SEEDS, in whole updates. The first run uses SPS (default 200000: unmeasured, a guess
# for S5 at the preset's sizes with 3 seeds on an H100; if gpu_check.sh ran on this machine,
# pass its training steps/s times ~2 for 3 seeds) and every later run the steps/s measured by
# the run before it (median of its metrics rows, compilation excluded); SPS_<MEMORY> (e.g.
# SPS_GRU) overrides the estimate of one memory.
#
# Each run is evaluated EVALS (default 4) times during training, however long it is, so the
# overhead does not grow with the run.
#
# Environment variables: MEMORIES ("s5 gru none"), NUM_SEEDS (3), RUN_SECONDS, TOTAL_SECONDS,
# OVERHEAD, EVALS, SPS,
# TRAIN_FLAGS (extra meta_train.py flags, after the defaults), INSTALL (1: pip install -e .
# first, with "jax[cuda12]" on an NVIDIA host whose jax sees no GPU), PYTHON (python3).
set -uo pipefail

OUT_DIR=${1:?usage: gpu_learning.sh OUT_DIR [--tiny]}
TINY=0
[[ "${2:-}" == "--tiny" ]] && TINY=1
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
START=$(date +%s)

if [[ $TINY == 1 ]]; then
  : "${RUN_SECONDS:=20}" "${SPS:=300}" "${INSTALL:=0}" "${TOTAL_SECONDS:=1200}"
  : "${TRAIN_FLAGS:=--num-envs 8 --num-steps 16 --update-epochs 1 --num-minibatches 2 --encoder-sizes 16 --head-sizes 16 --s5-state-size 8 --s5-num-layers 1 --updates-per-chunk 2 --eval-per-env 2 --final-eval-per-env 2}"
fi
: "${MEMORIES:=s5 gru none}" "${NUM_SEEDS:=3}" "${RUN_SECONDS:=100}" "${SPS:=200000}"
: "${TOTAL_SECONDS:=570}" "${OVERHEAD:=100}"
# the final evaluation bank = the one during training: one evaluator compilation serves both
: "${TRAIN_FLAGS:=--eval-per-env 32 --final-eval-per-env 32}" "${INSTALL:=1}" "${EVALS:=4}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "[gpu_learning $(($(date +%s) - START)) s] $*"; }

if [[ $INSTALL == 1 ]]; then
  log "installing (README's command)"
  if command -v nvidia-smi >/dev/null && ! $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
    $PY -m pip install -q "jax[cuda12]" >"$OUT_DIR/install.log" 2>&1
  fi
  $PY -m pip install -q -e . >>"$OUT_DIR/install.log" 2>&1 || log "install failed (see install.log)"
fi
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$OUT_DIR/devices.txt"

# steps per update (per seed) and trials per task K of the preset with TRAIN_FLAGS
# shellcheck disable=SC2086
read -r PER_UPDATE TRIALS PER_CHUNK < <($PY - $TRAIN_FLAGS <<'EOF'
import sys
from agents.experiment import train as meta_train
from projected_envs.benchmark_registry import benchmark
config = meta_train.parse_args(["--preset", "gpu", *sys.argv[1:]]).config
print(config.ppo.steps_per_update, benchmark(config.benchmark).train.num_trials,
      config.updates_per_chunk)
EOF
)
log "steps per update ${PER_UPDATE}, ${TRIALS} trials per task; extrapolation to $((2 * TRIALS))"

estimate=$SPS
overhead=$OVERHEAD
read -ra memories <<<"$MEMORIES"
left=${#memories[@]}
for memory in "${memories[@]}"; do
  var="SPS_${memory^^}"
  sps=${!var:-$estimate}
  remaining=$((TOTAL_SECONDS - ($(date +%s) - START)))
  seconds=$((remaining / left - overhead))
  ((seconds > RUN_SECONDS)) && seconds=$RUN_SECONDS
  ((seconds < 10)) && seconds=10
  total=$($PY scripts/learning_summary.py --size "$sps" "$seconds" "$PER_UPDATE" "$NUM_SEEDS")
  # EVALS evaluations during training whatever the length, so the overhead stays constant
  chunks=$(((total / PER_UPDATE + PER_CHUNK - 1) / PER_CHUNK))
  eval_every=$((chunks / EVALS > 1 ? chunks / EVALS : 1))
  log "$memory: ${NUM_SEEDS} seeds x ${total} env steps (~${seconds} s at ${sps} steps/s)," \
    "${chunks} chunks, evaluated every ${eval_every}"
  run_start=$(date +%s)
  rm -rf "${OUT_DIR:?}/$memory"
  # shellcheck disable=SC2086
  $PY examples/meta_train.py --preset gpu --memory "$memory" --num-seeds "$NUM_SEEDS" \
    --total-timesteps "$total" --extrapolation-trials $((2 * TRIALS)) --no-progress \
    --out-dir "$OUT_DIR/$memory" $TRAIN_FLAGS --eval-every "$eval_every" \
    >"$OUT_DIR/$memory.log" 2>&1 ||
    log "$memory failed (see $memory.log)"
  measured=$($PY scripts/learning_summary.py --steps-per-s-of "$OUT_DIR/$memory" 2>/dev/null)
  [[ -n "$measured" && "$measured" != "0" ]] && estimate=${measured%.*}
  trained=$($PY scripts/learning_summary.py --train-seconds-of "$OUT_DIR/$memory" 2>/dev/null)
  overhead=$(($(date +%s) - run_start - ${trained:-0}))
  left=$((left - 1))
  log "$memory done in $(($(date +%s) - run_start)) s; ${measured:-?} steps/s, overhead ${overhead} s"
done

$PY scripts/learning_summary.py "$OUT_DIR" >/dev/null && log "wrote $OUT_DIR/summary.json"
log "total wall time $(($(date +%s) - START)) s"
