#!/usr/bin/env bash
# Build the NBIS native library (MINDTCT + Bozorth3) that afis's wheel lacks.
#
# afis ships the NBIS C sources in its sdist only; `pip install afis` leaves
# its native backend unbuilt, and its pure-Python Bozorth3 does not score as
# NBIS does. This script downloads the sdist of the installed afis version,
# runs `make -C native` and installs the library where synthbio looks for it:
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

case "$(uname -s)" in
    Linux) LIBNAME=libafis_lfs.so ;;
    Darwin) LIBNAME=libafis_lfs.dylib ;;
    *) echo "build_nbis: NBIS native build supports Linux and macOS only" >&2; exit 1 ;;
esac

VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("afis"))')"
DEST_DIR="$VENV_DIR/lib/synthbio-native"
DEST="$DEST_DIR/$LIBNAME"
STAMP="$DEST_DIR/afis-version"

if [ -f "$DEST" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
    echo "build_nbis: $DEST is up to date (afis $VERSION)"
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "build_nbis: building NBIS from the afis $VERSION sdist"
"$PY" -m pip download -q --no-binary :all: --no-deps --no-build-isolation "afis==$VERSION" -d "$WORK" \
    || "$PY" -m pip download -q --no-binary :all: --no-deps "afis==$VERSION" -d "$WORK"
SDIST="$(ls "$WORK"/afis-*.tar.gz | head -n 1)"
tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/afis-$VERSION/native"
make -s -C "$SRC" >"$WORK/make.log" 2>&1 || { cat "$WORK/make.log" >&2; exit 1; }

mkdir -p "$DEST_DIR"
# Copy under a temporary name and rename, so a concurrent reader never sees
# half a library.
cp "$SRC/lib/$LIBNAME" "$DEST.tmp.$$"
chmod 0755 "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"
echo "$VERSION" >"$STAMP"
echo "build_nbis: installed $DEST"
