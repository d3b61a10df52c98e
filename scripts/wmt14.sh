#!/usr/bin/env bash
# The paper's WMT 2014 English-German recipes on GPUs (§5, Table 3).
#
#   bash scripts/wmt14.sh base [NPROC] [extra `aiayn train` arguments]
#   bash scripts/wmt14.sh big  [NPROC] [...]
#   bash scripts/wmt14.sh base --dry-run [NPROC]       # print the plan and the command; train nothing
#   bash scripts/wmt14.sh base --resume DIR [NPROC] [--steps N]   # continue a run with its own settings
#
# Both: shared BPE of about 37,000 (§5.1), learned from a seeded uniform sample of 1,000,000
# training pairs; 25,000 source + 25,000 target tokens per optimiser step on any number of
# GPUs (TOKENS_PER_STEP); Adam (0.9, 0.98, 1e-9) with Eq. 3, warmup 4000; eps_ls 0.1; bf16
# autocast; checkpoints every 1,000 steps, written in the background; newstest2013 scored
# every VALIDATE_EVERY steps (loss, perplexity, greedy BLEU on 500 sentences), the best kept
# in RUN_DIR/checkpoints/best; TensorBoard events in RUN_DIR/tensorboard when the
# tensorboard package is installed; beam 4, alpha 0.6 (§6.1). Training starts only when
# every spec passes.
#
#   base: N=6, d_model 512, d_ff 2048, h 8, P_drop 0.1; 100,000 steps; last 5 averaged.
#         Paper: 27.3 BLEU on newstest2014 after 12 hours on 8 P100s.
#   big:  d_model 1024, d_ff 4096, h 16, P_drop 0.3; 300,000 steps; last 20 averaged.
#         Paper: 28.4 BLEU after 3.5 days on 8 P100s.
# The paper's BLEU is Moses-tokenized and compound-split; sacreBLEU is usually 0.7 to 1.5
# lower. eval.json holds both, labelled. (The paper wrote checkpoints 10 minutes apart.)
#
# The data: `aiayn prepare --task wmt14` (one process, with progress) downloads WMT 2014,
# learns the vocabulary and binarizes the pairs into the cache (AIAYN_CACHE) once; this
# script runs it before torchrun, and it returns at once when the data is there.
#
# The batch: `aiayn train` splits TOKENS_PER_STEP over the processes and gradient
# accumulation (aiayn/training/budget.py), with at most MAX_TOKENS_PER_DEVICE tokens per
# side in one GPU's batch: by default the most that fits the GPU's memory, estimated from
# the model (aiayn/training/memory.py; DEVICE_MEMORY_GIB stands in for a GPU that is not
# there), so accumulation is used only where one GPU cannot hold its share. The start of
# the run prints the split. The same across process counts: tokens per optimiser step, so
# the schedule, the steps and the gradient noise. Not the same: the batch on each GPU (and
# so the padding), the order sentences are seen in, floating-point summation order, wall
# time. A run resumes on another number of GPUs only where its steps keep their batches;
# otherwise `aiayn train` refuses, saying why.
set -euo pipefail
PRESET=${1:?usage: wmt14.sh base|big [--dry-run | --resume DIR] [NPROC] [aiayn train arguments]}
shift
case "$PRESET" in
  base) STEPS=100000; AVERAGE=5 ;;
  big)  STEPS=300000; AVERAGE=20 ;;
  *) echo "wmt14.sh: preset must be base or big, got $PRESET" >&2; exit 2 ;;
esac
DRY_RUN=0; RESUME=""
case "${1:-}" in
  --dry-run) DRY_RUN=1; shift ;;
  --resume) RESUME=${2:?wmt14.sh: --resume needs the run folder}; shift 2
            [[ -f "$RESUME/run.json" ]] || { echo "wmt14.sh: $RESUME holds no run to resume (no run.json)" >&2; exit 2; } ;;
esac
PYTHON=${PYTHON:-python}
TOKENS_PER_STEP=${TOKENS_PER_STEP:-25000}  # per side (source, target) per optimiser step, §5.1
VALIDATE_EVERY=${VALIDATE_EVERY:-1000}
RUN_DIR=${RUN_DIR:-runs/wmt14-$PRESET}
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  NPROC=$1; shift
else
  NPROC=$("$PYTHON" -c "import torch; print(max(1, torch.cuda.device_count()))")
fi
HAS_CUDA=$("$PYTHON" -c "import torch; print(int(torch.cuda.is_available()))")
if [[ $DRY_RUN == 1 && $HAS_CUDA == 0 ]]; then  # plan for a GPU that is not here
  DEVICE_MEMORY_GIB=${DEVICE_MEMORY_GIB:-80}; DEVICE_NAME=${DEVICE_NAME:-H100 (assumed: no CUDA device here)}
fi
BOARD=()
if "$PYTHON" -c "import torch.utils.tensorboard" 2>/dev/null; then BOARD=(--tensorboard "${RESUME:-$RUN_DIR}/tensorboard"); fi

if [[ -n "$RESUME" ]]; then  # the run's own settings (run.json); only --steps and watching flags may be added
  CMD=(torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train --resume "$RESUME"
    --no-progress "${BOARD[@]}" "$@")
  echo "wmt14.sh: resuming $RESUME on $NPROC process(es)"
  exec "${CMD[@]}"
fi

GIVEN_MAX=${MAX_TOKENS_PER_DEVICE:-}
if [[ -z "$GIVEN_MAX" ]]; then  # the most tokens per side that fit one GPU's batch
  MAX_TOKENS_PER_DEVICE=$("$PYTHON" -c 'import sys; from aiayn.training.memory import budget_for
print(budget_for(sys.argv[1], 37000, float(sys.argv[2]) if sys.argv[2] else None))' "$PRESET" "${DEVICE_MEMORY_GIB:-}")
fi
CAP=$(( MAX_TOKENS_PER_DEVICE < TOKENS_PER_STEP ? MAX_TOKENS_PER_DEVICE : TOKENS_PER_STEP ))
PREPARE=("$PYTHON" -m aiayn prepare --task wmt14 --bpe-vocab 37000)
CMD=(torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train
  --task wmt14 --preset "$PRESET" --run-dir "$RUN_DIR" --bpe-vocab 37000
  --tokens-per-step "$TOKENS_PER_STEP" --max-tokens-per-device "$CAP"
  --steps "$STEPS" --warmup-steps 4000 --save-every 1000 --keep-last "$AVERAGE" --average-last "$AVERAGE"
  --validate-every "$VALIDATE_EVERY" --validate-bleu 500 --no-progress "${BOARD[@]}" "$@")

if [[ $DRY_RUN == 1 ]]; then
  echo "wmt14.sh $PRESET: $TOKENS_PER_STEP tokens per step per side; validation every $VALIDATE_EVERY steps (loss, perplexity, greedy BLEU on 500 newstest2013 sentences)"
  "$PYTHON" -c 'import sys; from aiayn.model.config import preset; from aiayn.training import memory, budget
name, tokens, steps, gib, cap, given, nproc = sys.argv[1:8]
mem, device = (float(gib) * memory.GIB, sys.argv[8] or f"a GPU of {gib} GiB") if gib else memory.device_memory()
for line in memory.plan(preset(name, vocab_size=37000), int(tokens), int(steps), mem, device,
                        int(given) if given else None, mfu=0.3):
    print("  " + line)
print(f"  with {nproc}: " + budget.step_budget(int(tokens), int(nproc), int(cap)).describe())' \
    "$PRESET" "$TOKENS_PER_STEP" "$STEPS" "${DEVICE_MEMORY_GIB:-}" "$CAP" "$GIVEN_MAX" "$NPROC" "${DEVICE_NAME:-}"
  echo "would run: ${PREPARE[*]}"
  echo "then: ${CMD[*]}"
  exit 0
fi
"${PREPARE[@]}"
echo "wmt14.sh $PRESET on $NPROC process(es), at most $CAP tokens per side in one GPU's batch"
exec "${CMD[@]}"
