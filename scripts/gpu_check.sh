#!/usr/bin/env bash
# The first checks to run on a GPU, in one go (about 10 minutes on one GPU):
#
#   bash scripts/gpu_check.sh            # uses CUDA device 0; refuses at once without one
#
# 1. the spec suite with the device-sensitive claims on the GPU in bf16 (Eq. 1 fused against
#    written out, fully masked rows, cached against uncached decoding, the loss): what the
#    spec gate runs before a GPU run (AIAYN_SPEC_DEVICE / AIAYN_SPEC_DTYPE);
# 2. the host-sync test (tests/test_host_syncs.py) under torch.cuda.set_sync_debug_mode("error");
# 3. 200 optimiser steps of the base model at 25,000 tokens per side, bf16: step time,
#    tokens/s, MFU, peak memory against aiayn/training/memory.py's estimate;
# 4. beam decoding (beam 4, alpha 0.6) of 500 sentences with the base model.
# Each part has a time limit; the script goes on after a failed part and exits non-zero at
# the end if any failed. Output: the terminal, and gpu_check.log in the current folder.
set -uo pipefail
PYTHON=${PYTHON:-python}
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check.sh: no CUDA device visible (torch.cuda.is_available() is False); this check needs one GPU" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
exec > >(tee gpu_check.log) 2>&1
export HF_HUB_OFFLINE=1
"$PYTHON" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'device: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}')"
failed=()
part() {  # part NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "== $name (at most ${limit} s)"
  local t0=$SECONDS
  if timeout "$limit" "$@"; then echo "== $name: ok ($((SECONDS - t0)) s)"; else echo "== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}
part "specs on cuda:0 in bf16" 330 env AIAYN_SPEC_DEVICE=cuda:0 AIAYN_SPEC_DTYPE=bfloat16 "$PYTHON" -m pytest spec -q -x
part "host syncs" 60 "$PYTHON" -m pytest tests/test_host_syncs.py -q
part "200 steps of base at 25,000 tokens per side" 180 "$PYTHON" scripts/gpu_check.py steps --preset base --tokens 25000 --steps 200
part "beam decoding of 500 sentences" 120 "$PYTHON" scripts/gpu_check.py beam --preset base --sentences 500
if [[ ${#failed[@]} -gt 0 ]]; then echo "gpu_check.sh: failed: ${failed[*]}"; exit 1; fi
echo "gpu_check.sh: all parts passed"
