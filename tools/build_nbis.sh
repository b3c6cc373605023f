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
# The library is afis's own objects plus one small entry point of ours,
# `synthbio_bozorth3`, that scores a probe against a gallery exactly as the
# NBIS `bozorth3` command does (its bz_prune: theta folded to (-180, 180],
# the 150 minutiae of highest quality kept, rows sorted by x then y; at least
# 10 minutiae). afis's own `afis_bozorth3_match` skips that preparation and
# scores differently, so synthbio calls ours.
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
SHIM_VERSION=1  # bump when the C entry point below changes
WANT="afis $VERSION shim $SHIM_VERSION"

if [ -f "$DEST" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
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

cat >"$WORK/synthbio_nbis.c" <<'CSRC'
/* synthbio entry point into NBIS Bozorth3 (linked with afis's NBIS objects).
 *
 * rows: NIST xyt rows (x, y from the bottom-left corner, theta in degrees
 * [0, 360), quality 0..100), as the NBIS `bozorth3` command reads them from
 * an .xyt file. Returns that command's score for probe vs gallery.
 */
#include <stdlib.h>
#include <string.h>
#include <bozorth.h>

void nbis_bozorth_ensure_errorfp(void);

static struct xyt_struct *load_rows(const int *rows, int n) {
    struct xytq_struct *q = calloc(1, sizeof(*q));
    if (!q) return NULL;
    if (n > MAX_FILE_MINUTIAE) n = MAX_FILE_MINUTIAE;
    q->nrows = n;
    for (int i = 0; i < n; i++) {
        q->xcol[i] = rows[4 * i];
        q->ycol[i] = rows[4 * i + 1];
        q->thetacol[i] = rows[4 * i + 2];
        q->qualitycol[i] = rows[4 * i + 3];
    }
    struct xyt_struct *s = bz_prune(q, 0); /* what bz_load does after reading */
    free(q);
    return s;
}

__attribute__((visibility("default")))
int synthbio_bozorth3(const int *probe, int n_probe, const int *gallery, int n_gallery) {
    nbis_bozorth_ensure_errorfp();
    /* The command's defaults; afis's glue sets other values for its own calls. */
    int saved_max = max_minutiae, saved_min = min_computable_minutiae;
    max_minutiae = DEFAULT_BOZORTH_MINUTIAE;
    min_computable_minutiae = MIN_COMPUTABLE_BOZORTH_MINUTIAE;
    int score = -1;
    struct xyt_struct *p = load_rows(probe, n_probe);
    struct xyt_struct *g = load_rows(gallery, n_gallery);
    if (p && g) score = bozorth_main(p, g);
    free(p);
    free(g);
    max_minutiae = saved_max;
    min_computable_minutiae = saved_min;
    return score;
}
CSRC

OBJ="$SRC/build/$(uname -s)"
INC="-I$SRC/nbis/bozorth/include -I$SRC/nbis/commonbis/include"
CC="${CC:-cc}"
$CC -O2 -w -fPIC -fvisibility=hidden -pthread $INC -c "$WORK/synthbio_nbis.c" -o "$WORK/synthbio_nbis.o"
if [ "$LIBNAME" = libafis_lfs.dylib ]; then
    LINK=(-dynamiclib -install_name "@rpath/$LIBNAME")
else
    LINK=(-shared "-Wl,-soname,$LIBNAME")
fi
$CC "${LINK[@]}" -o "$WORK/$LIBNAME" "$OBJ"/afis_lfs.o "$OBJ"/mindtct/*.o "$OBJ"/bozorth/*.o \
    "$WORK/synthbio_nbis.o" -lm -pthread

mkdir -p "$DEST_DIR"
# Copy under a temporary name and rename, so a concurrent reader never sees
# half a library.
cp "$WORK/$LIBNAME" "$DEST.tmp.$$"
chmod 0755 "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"
echo "$WANT" >"$STAMP"
echo "build_nbis: installed $DEST"
