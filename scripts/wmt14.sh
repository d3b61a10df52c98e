#!/usr/bin/env bash
# The paper's WMT 2014 English-German recipes on GPUs (§5, Table 3).
#
#   bash scripts/wmt14.sh base [NPROC] [extra `aiayn train` arguments]
#   bash scripts/wmt14.sh big  [NPROC] [...]
#   bash scripts/wmt14.sh base --dry-run [NPROC]   # print the batch arithmetic and the command; train nothing
#
# Both: shared BPE of about 37,000 (§5.1); 25,000 source + 25,000 target tokens per
# optimiser step on any number of GPUs (TOKENS_PER_STEP); Adam (0.9, 0.98, 1e-9) with
# Eq. 3, warmup 4000; eps_ls 0.1; bf16 autocast; checkpoints every 1,000 steps; beam 4,
# alpha 0.6 (§6.1). Training starts only when every spec passes.
#
#   base: N=6, d_model 512, d_ff 2048, h 8, P_drop 0.1; 100,000 steps; last 5 averaged.
#         Paper: 27.3 BLEU on newstest2014 after 12 hours on 8 P100s.
#   big:  d_model 1024, d_ff 4096, h 16, P_drop 0.3; 300,000 steps; last 20 averaged.
#         Paper: 28.4 BLEU after 3.5 days on 8 P100s.
# The paper's BLEU is Moses-tokenized and compound-split; sacreBLEU is usually 0.7 to 1.5
# lower. eval.json holds both, labelled. (The paper wrote checkpoints 10 minutes apart.)
#
# The batch: `aiayn train` splits TOKENS_PER_STEP over the processes and gradient
# accumulation (aiayn/training/budget.py), with at most MAX_TOKENS_PER_DEVICE tokens per
# side in one GPU's batch; the start of the run prints the split. The same across process
# counts: tokens per optimiser step (within 0.1%; exactly for 1, 2, 4, 5 and 8), so the
# schedule, the steps and the gradient noise. Not the same: the batch on each GPU (and so
# the padding and how length-grouped batches fill), the order sentences are seen in,
# floating-point summation order, and wall time.
set -euo pipefail
PRESET=${1:?usage: wmt14.sh base|big [--dry-run] [NPROC] [aiayn train arguments]}
shift
case "$PRESET" in
  base) STEPS=100000; AVERAGE=5 ;;
  big)  STEPS=300000; AVERAGE=20 ;;
  *) echo "wmt14.sh: preset must be base or big, got $PRESET" >&2; exit 2 ;;
esac
DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
PYTHON=${PYTHON:-python}
TOKENS_PER_STEP=${TOKENS_PER_STEP:-25000}  # per side (source, target) per optimiser step, §5.1
MAX_TOKENS_PER_DEVICE=${MAX_TOKENS_PER_DEVICE:-6250}  # per side in one GPU's batch
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  NPROC=$1; shift
else
  NPROC=$("$PYTHON" -c "import torch; print(max(1, torch.cuda.device_count()))")
fi

split() {  # the split `aiayn train` makes for $1 processes
  "$PYTHON" -c 'import sys; from aiayn.training.budget import step_budget
print(step_budget(*map(int, sys.argv[1:])).describe())' "$TOKENS_PER_STEP" "$1" "$MAX_TOKENS_PER_DEVICE"
}

CMD=(torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train
  --task wmt14 --preset "$PRESET" --run-dir "${RUN_DIR:-runs/wmt14-$PRESET}" --bpe-vocab 37000
  --tokens-per-step "$TOKENS_PER_STEP" --max-tokens-per-device "$MAX_TOKENS_PER_DEVICE"
  --steps "$STEPS" --warmup-steps 4000 --save-every 1000 --keep-last "$AVERAGE" --average-last "$AVERAGE"
  --no-progress "$@")

if [[ $DRY_RUN == 1 ]]; then
  echo "wmt14.sh $PRESET: $TOKENS_PER_STEP tokens per step per side, at most $MAX_TOKENS_PER_DEVICE per GPU batch"
  for n in 1 2 3 8; do echo "  $(split "$n")"; done
  echo "with $NPROC: $(split "$NPROC")"
  echo "would run: ${CMD[*]}"
  exit 0
fi
echo "wmt14.sh $PRESET: $(split "$NPROC")"
exec "${CMD[@]}"
