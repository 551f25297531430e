#!/usr/bin/env bash
# Ten seeds at the sizes the issue's thresholds name, bf16 (precision: auto) and fp32 on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .devbundle/whl/*.whl 2>/dev/null
export PYTHONPATH="/tmp/site:$PWD/src" ACAKIT_MINILM_PATH="$PWD/.devbundle/minilm" PYTHONUNBUFFERED=1 COLUMNS=100
for prec in auto fp32; do
  python3 - "$prec" <<'PY'
import sys, yaml
c = yaml.safe_load(open("examples/hardt_text_gpu.yaml"))
c["firm"]["params"]["precision"] = sys.argv[1]
c["sweep"] = {"alpha": [0.0025, 0.005, 0.01], "seed": list(range(10))}
c["name"] = f"ten seeds, precision {sys.argv[1]}"
yaml.safe_dump(c, open(f"/tmp/seeds_{sys.argv[1]}.yaml", "w"), allow_unicode=True)
PY
  start=$(date +%s)
  timeout 200 python3 -m acakit run "/tmp/seeds_$prec.yaml" --out "/tmp/seeds_$prec" --no-cache 2>&1 | tail -22
  echo "precision=$prec wall=$(( $(date +%s) - start )) s"
  cp "/tmp/seeds_$prec/results.csv" "$OUT/seeds_${prec}_results.csv" 2>/dev/null
done
