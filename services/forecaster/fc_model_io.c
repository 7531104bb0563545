/* Saving and loading a kind's trained state.
 *
 * File layout: one text header line
 *   "EMSFC-MODEL <format> <version> <kind> <trained_at> <nfeat> <winner>
 *    <mae0> <mae1> <mae2> <qbytes> <booster_bytes> <pool_n> <nwx>\n"
 * then the names of the nwx weather columns in feature order
 * (FC_WX_NAME_SIZE bytes each, NUL-padded; format 4 on), the quantile tables (per
 * model, then the served band) as raw bytes (same build only), the pooled served
 * residuals (pool_n target times as int64, residuals as double, cells as bytes), and
 * the booster in XGBoost's UBJSON model format. */
#include "forecaster/fc_internal.h"
#include "file/file.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 4: the weather columns are named (format 3 matched them by count). */
#define FC_MODEL_FORMAT 4

int fc_forecaster_save(const fc_forecaster *fc, fc_kind k, const char *path,
                       char *errstr, size_t errstr_size)
{
    const fc_kstate *ks = &fc->ks[k];
    char *blob = NULL;
    size_t blen = 0;
    if (!ks->trained) {
        snprintf(errstr, errstr_size, "kind '%s' is not trained", fc_kind_name(k));
        return -1;
    }
    if (ks->booster && fc_xgb_save(ks->booster, &blob, &blen, errstr, errstr_size) < 0)
        return -1;
    /* built in memory and written as one file: a crash leaves the previous
     * model whole, never a truncated one (which the loader would refuse) */
    char *bytes = NULL;
    size_t nbytes = 0;
    FILE *f = open_memstream(&bytes, &nbytes);
    if (!f) {
        snprintf(errstr, errstr_size, "out of memory writing '%s'", path);
        free(blob);
        return -1;
    }
    const fc_pool *pl = &ks->pool;
    const fc_wxcols *wc = &ks->wxcols;
    fprintf(
        f, "EMSFC-MODEL %d %s %d %" PRId64 " %d %d %.17g %.17g %.17g %zu %zu %zu %zu\n",
        FC_MODEL_FORMAT, ks->version, (int)k, ks->trained_at, FCF_BASE + (int)wc->n,
        (int)ks->winner, ks->mae[0], ks->mae[1], ks->mae[2],
        sizeof ks->q + sizeof ks->served, blen, pl->n, wc->n);
    int ok = fwrite(wc->names, sizeof wc->names[0], wc->n, f) == wc->n &&
             fwrite(ks->q, 1, sizeof ks->q, f) == sizeof ks->q &&
             fwrite(&ks->served, 1, sizeof ks->served, f) == sizeof ks->served &&
             (pl->n == 0 || (fwrite(pl->t, sizeof *pl->t, pl->n, f) == pl->n &&
                             fwrite(pl->r, sizeof *pl->r, pl->n, f) == pl->n &&
                             fwrite(pl->cell, 1, pl->n, f) == pl->n)) &&
             (blen == 0 || fwrite(blob, 1, blen, f) == blen);
    ok &= fclose(f) == 0;
    free(blob);
    if (!ok) {
        snprintf(errstr, errstr_size, "out of memory writing '%s'", path);
        free(bytes);
        return -1;
    }
    int rc = ems_file_write_atomic_n(path, bytes, nbytes, 0666, errstr, errstr_size);
    free(bytes);
    return rc;
}

/* The header into *ks; -1 with errstr. A file of another format is named
 * as such: format 3 and before carry no weather column names, and matching
 * their columns by count could feed the trees the wrong ones. */
static int read_header(FILE *f, const char *path, fc_kstate *ks, int *kind, size_t *qb,
                       size_t *bb, size_t *pn, char *errstr, size_t errstr_size)
{
    char line[512];
    int fmt = -1, winner, nfeat;
    size_t nwx;
    int got = fgets(line, sizeof line, f)
                  ? sscanf(line,
                           "EMSFC-MODEL %d %63s %d %" SCNd64
                           " %d %d %lf %lf %lf %zu %zu %zu %zu",
                           &fmt, ks->version, kind, &ks->trained_at, &nfeat, &winner,
                           &ks->mae[0], &ks->mae[1], &ks->mae[2], qb, bb, pn, &nwx)
                  : 0;
    if (got >= 1 && fmt != FC_MODEL_FORMAT) {
        snprintf(errstr, errstr_size, "'%s' is a format %d model, this build reads %d",
                 path, fmt, FC_MODEL_FORMAT);
        return -1;
    }
    if (got != 13 || winner < 0 || winner >= FC_NMODELS || *pn > ((size_t)1 << 24) ||
        nwx > FC_MAX_WX || nfeat != FCF_BASE + (int)nwx)
        goto bad;
    ks->winner = (fc_model_id)winner;
    ks->wxcols.n = nwx;
    if (fread(ks->wxcols.names, sizeof ks->wxcols.names[0], nwx, f) != nwx)
        goto bad;
    for (size_t i = 0; i < nwx; i++)
        if (!ks->wxcols.names[i][0] ||
            ks->wxcols.names[i][sizeof ks->wxcols.names[i] - 1] != '\0')
            goto bad;
    return 0;
bad:
    snprintf(errstr, errstr_size, "'%s' is not a format %d model", path,
             FC_MODEL_FORMAT);
    return -1;
}

/* Loads into *ks; 0 or -1 with errstr. */
static int load_state(fc_kind k, const char *path, fc_kstate *ks, char *errstr,
                      size_t errstr_size)
{
    int kind;
    size_t qb, bb, pn;
    char *blob = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "cannot open '%s'", path);
        return -1;
    }
    if (read_header(f, path, ks, &kind, &qb, &bb, &pn, errstr, errstr_size) < 0)
        goto err;
    if (kind != (int)k || qb != sizeof ks->q + sizeof ks->served) {
        snprintf(errstr, errstr_size, "'%s' is not a format %d %s model", path,
                 FC_MODEL_FORMAT, fc_kind_name(k));
        goto err;
    }
    fc_pool *pl = &ks->pool;
    blob = malloc(bb ? bb : 1);
    pl->t = malloc((pn ? pn : 1) * sizeof *pl->t);
    pl->r = malloc((pn ? pn : 1) * sizeof *pl->r);
    pl->cell = malloc(pn ? pn : 1);
    pl->n = pl->cap = pn;
    if (!blob || !pl->t || !pl->r || !pl->cell ||
        fread(ks->q, 1, sizeof ks->q, f) != sizeof ks->q ||
        fread(&ks->served, 1, sizeof ks->served, f) != sizeof ks->served ||
        fread(pl->t, sizeof *pl->t, pn, f) != pn ||
        fread(pl->r, sizeof *pl->r, pn, f) != pn || fread(pl->cell, 1, pn, f) != pn ||
        fread(blob, 1, bb, f) != bb || fgetc(f) != EOF) {
        snprintf(errstr, errstr_size, "'%s' is truncated or has trailing bytes", path);
        goto err;
    }
    for (size_t i = 0; i < pn; i++)
        if (pl->cell[i] >= FC_QH * FC_QG || isnan(pl->r[i])) {
            snprintf(errstr, errstr_size, "'%s' holds a bad pooled residual", path);
            goto err;
        }
    if (bb && fc_xgb_load(blob, bb, &ks->booster, errstr, errstr_size) < 0)
        goto err;
    ks->trained = 1;
    free(blob);
    fclose(f);
    return 0;
err:
    free(blob);
    fc_pool_release(&ks->pool);
    fclose(f);
    return -1;
}

int fc_forecaster_load(fc_forecaster *fc, fc_kind k, const char *path, char *errstr,
                       size_t errstr_size)
{
    return fc_forecaster_load_checked(fc, k, path, NULL, INT64_MAX, errstr,
                                      errstr_size);
}

int fc_forecaster_load_checked(fc_forecaster *fc, fc_kind k, const char *path,
                               const fc_weather *wx, int64_t not_after, char *errstr,
                               size_t errstr_size)
{
    fc_kstate ks = {0};
    int map[FC_MAX_WX];
    if (load_state(k, path, &ks, errstr, errstr_size) < 0)
        return -1;
    int missing = wx ? fc_wxcols_map(&ks.wxcols, wx, map) : -1;
    if (missing >= 0) {
        snprintf(errstr, errstr_size,
                 "'%s' needs weather column '%s', which the site does not have", path,
                 ks.wxcols.names[missing]);
        goto err;
    }
    if (ks.trained_at > not_after) {
        snprintf(errstr, errstr_size, "'%s' was trained at %" PRId64 ", after %" PRId64,
                 path, ks.trained_at, not_after);
        goto err;
    }
    fc_xgb_free(fc->ks[k].booster);
    fc_pool_release(&fc->ks[k].pool);
    fc->ks[k] = ks;
    return 0;
err:
    fc_xgb_free(ks.booster);
    fc_pool_release(&ks.pool);
    return -1;
}

int64_t fc_forecaster_trained_at(const fc_forecaster *fc, fc_kind k)
{
    return fc->ks[k].trained ? fc->ks[k].trained_at : INT64_MIN;
}
