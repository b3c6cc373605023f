#!/usr/bin/env bash
# The CPU recipe of the shipped `fingerprint-default` (issue #17): 128 px, 250 dpi, `fp128cpu`.
#
#   bash bench/train_fingerprint_default_cpu.sh                 # data, then train until MINUTES run out
#   ROOT=/tmp/fpdefault MINUTES=80 bash bench/train_fingerprint_default_cpu.sh
#   bash bench/train_fingerprint_default_cpu.sh                 # again: resumes training exactly
#
# Data: procedural impressions with the default impression model (optical sensor, skin
# model on), 256x256 at 500 dpi, Lanczos-resized to 128x128 (a pixel is 2 sensor pixels).
# Held-out prints for the model card: other fingers (seed 2), made the same way.
# Then: python bench/fingerprint_model_card.py --model $ROOT/run/latest --real $ROOT/heldout128 \
#           --train $ROOT/train128 --num 1000 --quality-num 200 --out card.json
set -euo pipefail

ROOT=${ROOT:-runs/fingerprint-default-cpu}
FINGERS=${FINGERS:-400}
IMPRESSIONS=${IMPRESSIONS:-8}
MINUTES=${MINUTES:-80}
SYNTHBIO=${SYNTHBIO:-synthbio}
PYTHON=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # one thread was fastest on a shared 2-core machine

mkdir -p "$ROOT"
to128() {  # $1: generated dataset, $2: flat folder of 128 px PNGs
  "$PYTHON" - "$1" "$2" <<'PY'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for p in sorted(src.glob("*/*.png")):
    out = dst / f"{p.parent.name}_{p.stem}.png"
    if not out.exists():
        Image.open(p).convert("L").resize((128, 128), Image.Resampling.LANCZOS).save(out)
print(dst, len(list(dst.glob("*.png"))))
PY
}
"$SYNTHBIO" fingerprints generate --outdir "$ROOT/train" --fingers "$FINGERS" --impressions "$IMPRESSIONS" \
  --seed 1 --width 256 --height 256 -j 2
to128 "$ROOT/train" "$ROOT/train128"
"$SYNTHBIO" fingerprints generate --outdir "$ROOT/heldout" --fingers 250 --impressions 4 --seed 2 \
  --width 256 --height 256 -j 2
to128 "$ROOT/heldout" "$ROOT/heldout128"

resume=()
if [ -f "$ROOT/run/latest/training_state.pt" ]; then
  resume=(--resume "$ROOT/run")
fi
"$SYNTHBIO" train --data "$ROOT/train128" --outdir "$ROOT/run" --config fp128cpu --mirror --pl-weight 0 \
  --tick 2 --snap 10 --device cpu --max-minutes "$MINUTES" --kimg 1000 "${resume[@]}"
