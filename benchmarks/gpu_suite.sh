#!/usr/bin/env bash
# Every GPU measurement of the project in one short run (one H200, < 8 minutes), no qlib, synthetic data:
# generation case (c), bf16 vs fp32 agreement, training tokens/s and MFU, `pytest -m gpu`, the CSI300 year.
#
#   bash benchmarks/gpu_suite.sh                         # CUDA; figures in $OUT/gpu_suite.json (or ./gpu_suite.json)
#   bash benchmarks/gpu_suite.sh --out figures.json --budget-s 400
#   bash benchmarks/gpu_suite.sh --device cpu --out /tmp/smoke.json   # tiny smoke version (tests/test_gpu_suite.py)
#
# The steps share --budget-s (default 450 s); a step that would not fit is skipped with a note, and a hard
# stop at budget + 30 s keeps the run inside the lease. Figures are rewritten after every step.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_FILE="${OUT:-.}/gpu_suite.json"
BUDGET=450
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT_FILE="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# the machine may lack tqdm (progress bars only): a no-op stand-in then, never for real installs
if ! "$PYTHON" -c "import tqdm" 2>/dev/null; then
  echo "gpu_suite: tqdm missing, using benchmarks/shims/tqdm (no progress bars)"
  export PYTHONPATH="$PYTHONPATH:$REPO/benchmarks/shims"
fi
HARD_STOP=$(python3 -c "print(int(float('$BUDGET')) + 30)")
cd "$REPO"
echo "gpu_suite: budget ${BUDGET}s, figures -> $OUT_FILE"
timeout --signal=TERM "$HARD_STOP" "$PYTHON" benchmarks/gpu_suite.py --out "$OUT_FILE" --budget-s "$BUDGET" "${ARGS[@]}"
