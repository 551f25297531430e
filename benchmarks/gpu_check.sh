#!/usr/bin/env bash
# The whole GPU check of the transformer firms in one run (at most ~10 minutes on one H200):
# the steps GPU vs CPU, examples/hardt_text_gpu.yaml (18 cells, every layer fine-tuned) and the
# acceptance lines, written to $OUT (bench_gpu.json, bench_gpu.log).
#
# On a GPU machine that reaches no package registry and holds no model weights, prepare here:
#   bash ../shared/device/make-bundle.sh        # writes .devbundle/ (wheels + MiniLM float16)
# then run this script there with .devbundle carried along. It installs the wheels into
# /tmp/site and points acakit at the carried MiniLM (ACAKIT_MINILM_PATH; loaded as float32).
# On a machine where acakit is installed normally, it just runs the benchmark.
set -euo pipefail
# Extra arguments go to bench_gpu.py (e.g. --jobs 8, --config FILE).
cd "$(dirname "$0")/.."
if [ -d .devbundle/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .devbundle/whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  export ACAKIT_MINILM_PATH="$PWD/.devbundle/minilm"
fi
out="${OUT:-$(mktemp -d)}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
sweep="$(mktemp -d)/hardt_text_gpu"
status=0
python3 benchmarks/bench_gpu.py --out "$out/bench_gpu.json" --sweep-dir "$sweep" "$@" 2>&1 \
  | tee "$out/bench_gpu.log" || status=$?
# The sweep's own table, figure and rows (acakit run's outputs), next to the benchmark's figures.
for f in summary.csv success.png results.csv; do
  if [ -f "$sweep/$f" ]; then cp "$sweep/$f" "$out/hardt_text_gpu_$f"; fi
done
exit "$status"
