#!/usr/bin/env bash
# The paper's WMT 2014 English-German recipes on GPUs (§5, Table 3).
#
#   bash scripts/wmt14.sh base [NPROC] [extra `aiayn train` arguments]
#   bash scripts/wmt14.sh big  [NPROC] [...]
#
# Both: shared BPE of about 37,000 (§5.1); about 25,000 source + 25,000 target tokens per
# optimiser step whatever the number of GPUs (gradient accumulation makes up the
# difference from the paper's 8 GPUs); Adam (0.9, 0.98, 1e-9) with Eq. 3, warmup 4000;
# eps_ls 0.1; bf16 autocast; checkpoints every 1,000 steps; beam 4, alpha 0.6 (§6.1).
# Training starts only when every spec passes.
#
#   base: N=6, d_model 512, d_ff 2048, h 8, P_drop 0.1; 100,000 steps; last 5 averaged.
#         Paper: 27.3 BLEU on newstest2014 after 12 hours on 8 P100s.
#   big:  d_model 1024, d_ff 4096, h 16, P_drop 0.3; 300,000 steps; last 20 averaged.
#         Paper: 28.4 BLEU after 3.5 days on 8 P100s.
# The paper's BLEU is tokenized and compound-split; sacreBLEU is usually 0.7 to 1.5
# lower. eval.json holds both, labelled. (The paper wrote checkpoints 10 minutes apart.)
set -euo pipefail
PRESET=${1:?usage: wmt14.sh base|big [NPROC]}
case "$PRESET" in
  base) STEPS=100000; AVERAGE=5 ;;
  big)  STEPS=300000; AVERAGE=20 ;;
  *) echo "wmt14.sh: preset must be base or big, got $PRESET" >&2; exit 2 ;;
esac
NPROC=${2:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
PER_GPU=${PER_GPU:-6250}  # tokens per side per batch on one GPU
ACCUM=$(( (25000 + NPROC * PER_GPU - 1) / (NPROC * PER_GPU) ))
torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train \
  --task wmt14 --preset "$PRESET" --run-dir "${RUN_DIR:-runs/wmt14-$PRESET}" \
  --bpe-vocab 37000 --max-tokens "$PER_GPU" --accum-steps "$ACCUM" \
  --steps "$STEPS" --warmup-steps 4000 --save-every 1000 --keep-last "$AVERAGE" --average-last "$AVERAGE" \
  --no-progress "${@:3}"
