#!/usr/bin/env bash
# The paper's base model on WMT 2014 English-German (Table 3 "base", §5).
#
#   bash scripts/wmt14_base.sh [NPROC]          # NPROC GPUs on this node (default: all)
#
# Recipe: shared BPE of about 37,000 (§5.1); batches of about 25,000 source + 25,000
# target tokens per optimiser step whatever the number of GPUs (accumulation makes up
# the difference from the paper's 8 GPUs); Adam (0.9, 0.98, 1e-9) with Eq. 3, warmup
# 4000; P_drop 0.1, eps_ls 0.1; 100,000 steps; checkpoints every 1,000 steps and the
# last 5 averaged (the paper wrote them 10 minutes apart, about 800 steps); beam 4,
# alpha 0.6. bf16 autocast on CUDA. Training starts only when every spec passes.
#
# Expected: the paper reports 27.3 BLEU (tokenized, compound-split) on newstest2014 after
# 12 hours on 8 P100s; sacreBLEU is usually 0.7 to 1.5 lower. On 8 modern GPUs expect a
# few hours. eval.json holds both figures, labelled.
set -euo pipefail
NPROC=${1:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
# 25,000 tokens a step = NPROC x ACCUM x per-GPU budget
PER_GPU=${PER_GPU:-6250}
ACCUM=$(( (25000 + NPROC * PER_GPU - 1) / (NPROC * PER_GPU) ))
torchrun --standalone --nproc_per_node="$NPROC" -m aiayn --no-shape-checks train \
  --task wmt14 --preset base --run-dir "${RUN_DIR:-runs/wmt14-base}" \
  --bpe-vocab 37000 --max-tokens "$PER_GPU" --accum-steps "$ACCUM" \
  --steps 100000 --warmup-steps 4000 --save-every 1000 --keep-last 5 --average-last 5 \
  --no-progress "${@:2}"
