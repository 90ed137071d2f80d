#!/usr/bin/env bash
# Every GPU measurement of the project in one run planned for about 8 minutes (one H200), no qlib, synthetic
# data: device ceilings, generation (a)/(b)/(c)/study at the same precision, chunk sweep, a profiled chunk,
# the CSI300 year, the real trainer with MFU, exact resume, bf16/fp32 token agreement, then `pytest -m gpu`.
#
#   bash benchmarks/gpu_suite.sh                         # CUDA; everything under $OUT (or ./gpu_suite_out)
#   bash benchmarks/gpu_suite.sh --budget-s 420 --steps generation csi300_year
#   bash benchmarks/gpu_suite.sh --device cpu --out /tmp/smoke/gpu_suite.json   # tiny smoke version
#
# The steps share --budget-s (default 480 s); a step that would not fit is skipped with a note, and a hard
# stop at budget + 60 s keeps the run inside a 10-minute command. Figures are rewritten after every step.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${OUT:-$PWD/gpu_suite_out}"
OUT_FILE="$OUT_DIR/gpu_suite.json"
BUDGET=480
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT_FILE="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PYTHON="${PYTHON:-python3}"  # the device machine has python3; `python` may be missing there
mkdir -p "$(dirname "$OUT_FILE")"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# the machine may lack tqdm (progress bars only): a no-op stand-in then, never for real installs
if ! "$PYTHON" -c "import tqdm" 2>/dev/null; then
  echo "gpu_suite: tqdm missing, using benchmarks/shims/tqdm (no progress bars)"
  export PYTHONPATH="$PYTHONPATH:$REPO/benchmarks/shims"
fi
HARD_STOP=$("$PYTHON" -c "print(int(float('$BUDGET')) + 60)")
cd "$REPO"
echo "gpu_suite: budget ${BUDGET}s, figures -> $OUT_FILE"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  > "$(dirname "$OUT_FILE")/environment.txt" 2>&1 || true
nvidia-smi >> "$(dirname "$OUT_FILE")/environment.txt" 2>&1 || true
timeout --signal=TERM "$HARD_STOP" "$PYTHON" benchmarks/gpu_suite.py --out "$OUT_FILE" --budget-s "$BUDGET" \
  ${ARGS[@]+"${ARGS[@]}"} 2>&1 | tee "$(dirname "$OUT_FILE")/gpu_suite.log"
exit "${PIPESTATUS[0]}"
