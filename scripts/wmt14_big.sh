#!/usr/bin/env bash
# The paper's big model on WMT 2014 English-German (Table 3 "big": d_model 1024,
# d_ff 4096, h 16, P_drop 0.3), 300,000 steps, the last 20 checkpoints averaged (§6.1).
#
#   bash scripts/wmt14_big.sh [NPROC]
#
# Expected: 28.4 BLEU (tokenized, compound-split) on newstest2014 after 3.5 days on
# 8 P100s in the paper.
set -euo pipefail
NPROC=${1:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
PER_GPU=${PER_GPU:-6250}
ACCUM=$(( (25000 + NPROC * PER_GPU - 1) / (NPROC * PER_GPU) ))
torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train \
  --task wmt14 --preset big --run-dir "${RUN_DIR:-runs/wmt14-big}" \
  --bpe-vocab 37000 --max-tokens "$PER_GPU" --accum-steps "$ACCUM" \
  --steps 300000 --warmup-steps 4000 --save-every 1000 --keep-last 20 --average-last 20 \
  --no-progress "${@:2}"
