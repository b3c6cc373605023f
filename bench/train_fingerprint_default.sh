#!/usr/bin/env bash
# Train the default fingerprint generator (`fp256`) on procedural SFinGe-style impressions.
#
# Designed for a GPU machine reached in calls of at most ~9 minutes: run the
# same command again and again; each call does the next piece of work and
# leaves everything resumable.
#   call 1..k : generate the training set (resumable; killed mid-way it continues)
#   then      : train for MAX_MINUTES per call, snapshot, stop cleanly; the next
#               call resumes exactly from OUT/latest/training_state.pt
#
#   bash bench/train_fingerprint_default.sh            # defaults below
#   FINGERS=4000 KIMG=10000 MAX_MINUTES=7 bash bench/train_fingerprint_default.sh
#
# Data: `synthbio fingerprints generate` writes DATA/<finger>/<impression>.png
# (416x560 grayscale at 500 dpi, with .iso/.xyt/.json ground truth that the
# trainer ignores). The trainer takes the central 416x416 square of every
# impression and resizes it to 256x256 (--resolution 256 --resize-mode center-crop).
set -euo pipefail

ROOT=${ROOT:-runs/fingerprints}
DATA=${DATA:-$ROOT/data}
OUT=${OUT:-$ROOT/fp256}
FINGERS=${FINGERS:-2000}          # x IMPRESSIONS images in the training set
IMPRESSIONS=${IMPRESSIONS:-8}
SEED=${SEED:-0}
KIMG=${KIMG:-10000}               # total length; the run stops earlier if you stop calling
MAX_MINUTES=${MAX_MINUTES:-7}     # training time per call (leaves ~2 min for start-up and snapshot)
SNAP=${SNAP:-20}                  # snapshot every SNAP kimg (also at every call's end)
WORKERS=${WORKERS:-$(( $(nproc) > 8 ? 8 : $(nproc) ))}
SYNTHBIO=${SYNTHBIO:-synthbio}

expected=$(( FINGERS * IMPRESSIONS ))
have=0
if [ -d "$DATA" ]; then
  have=$(find "$DATA" -name '*.png' | wc -l)
fi

# (1) Training set: resumable; a call that runs out of time continues in the next one.
if [ "$have" -lt "$expected" ]; then
  echo "generating fingerprints: $have / $expected impressions present"
  timeout --signal=KILL "$(( ${MAX_MINUTES%.*} + 1 ))m" \
    "$SYNTHBIO" fingerprints generate --outdir "$DATA" --fingers "$FINGERS" --impressions "$IMPRESSIONS" \
      --seed "$SEED" --workers "$(nproc)" || true
  have=$(find "$DATA" -name '*.png' | wc -l)
  echo "training set: $have / $expected impressions; call again to $( [ "$have" -lt "$expected" ] && echo continue || echo start training)"
  exit 0
fi

# (2) Train fp256 for MAX_MINUTES, snapshot, stop; resume when a previous call left a state.
resume=()
if [ -f "$OUT/latest/training_state.pt" ]; then
  resume=(--resume "$OUT")
fi
"$SYNTHBIO" train --data "$DATA" --outdir "$OUT" --config fp256 \
  --resolution 256 --resize-mode center-crop \
  --kimg "$KIMG" --snap "$SNAP" --max-minutes "$MAX_MINUTES" --workers "$WORKERS" \
  --device auto --precision auto --seed "$SEED" "${resume[@]}"

tail -n 1 "$OUT/stats.jsonl"
ls -d "$OUT"/network-snapshot-* | tail -n 1
