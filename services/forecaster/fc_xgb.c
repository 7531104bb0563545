#include "forecaster/fc_xgb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xgboost/c_api.h>

static int fail(char *errstr, size_t n, const char *what)
{
    snprintf(errstr, n, "%s: %s", what, XGBGetLastError());
    return -1;
}

static int set_params(BoosterHandle h, const fc_xgb_params *p)
{
    char buf[32];
    int rc = XGBoosterSetParam(h, "tree_method", "hist");
    rc |= XGBoosterSetParam(h, "objective", "reg:squarederror");
    rc |= XGBoosterSetParam(h, "verbosity", "0");
    rc |= XGBoosterSetParam(h, "seed", "7");
    snprintf(buf, sizeof buf, "%d", p->nthread);
    rc |= XGBoosterSetParam(h, "nthread", buf);
    snprintf(buf, sizeof buf, "%d", p->max_depth);
    rc |= XGBoosterSetParam(h, "max_depth", buf);
    snprintf(buf, sizeof buf, "%g", p->eta);
    rc |= XGBoosterSetParam(h, "eta", buf);
    snprintf(buf, sizeof buf, "%g", p->subsample);
    rc |= XGBoosterSetParam(h, "subsample", buf);
    snprintf(buf, sizeof buf, "%g", p->min_child_weight);
    rc |= XGBoosterSetParam(h, "min_child_weight", buf);
    snprintf(buf, sizeof buf, "%d", p->max_bin > 0 ? p->max_bin : 256);
    rc |= XGBoosterSetParam(h, "max_bin", buf);
    snprintf(buf, sizeof buf, "%g", p->lambda);
    rc |= XGBoosterSetParam(h, "lambda", buf);
    return rc;
}

int fc_xgb_train(const float *x, const float *y, size_t n, int nfeat,
                 const fc_xgb_params *p, fc_booster *out, char *errstr,
                 size_t errstr_size)
{
    DMatrixHandle dm = NULL;
    BoosterHandle h = NULL;
    *out = NULL;
    if (XGDMatrixCreateFromMat(x, n, (bst_ulong)nfeat, NAN, &dm) != 0)
        return fail(errstr, errstr_size, "create training matrix");
    if (XGDMatrixSetFloatInfo(dm, "label", y, n) != 0) {
        fail(errstr, errstr_size, "set labels");
        goto err;
    }
    if (XGBoosterCreate(&dm, 1, &h) != 0) {
        fail(errstr, errstr_size, "create booster");
        goto err;
    }
    if (set_params(h, p) != 0) {
        fail(errstr, errstr_size, "set booster parameters");
        goto err;
    }
    for (int it = 0; it < p->rounds; it++) {
        if (XGBoosterUpdateOneIter(h, it, dm) != 0) {
            fail(errstr, errstr_size, "boosting round");
            goto err;
        }
    }
    XGDMatrixFree(dm);
    *out = h;
    return 0;
err:
    if (h)
        XGBoosterFree(h);
    XGDMatrixFree(dm);
    return -1;
}

int fc_xgb_predict(fc_booster b, const float *x, size_t n, int nfeat, float *out,
                   char *errstr, size_t errstr_size)
{
    DMatrixHandle dm = NULL;
    bst_ulong len = 0;
    const float *res = NULL;
    if (!b) {
        snprintf(errstr, errstr_size, "no trained booster");
        return -1;
    }
    if (XGDMatrixCreateFromMat(x, n, (bst_ulong)nfeat, NAN, &dm) != 0)
        return fail(errstr, errstr_size, "create prediction matrix");
    int rc = XGBoosterPredict(b, dm, 0, 0, 0, &len, &res);
    if (rc != 0 || len != n) {
        if (rc != 0)
            fail(errstr, errstr_size, "predict");
        else
            snprintf(errstr, errstr_size, "predict returned %lu values for %zu rows",
                     (unsigned long)len, n);
        XGDMatrixFree(dm);
        return -1;
    }
    memcpy(out, res, n * sizeof *out);
    XGDMatrixFree(dm);
    return 0;
}

int fc_xgb_save(fc_booster b, char **buf, size_t *len, char *errstr, size_t errstr_size)
{
    bst_ulong n = 0;
    const char *p = NULL;
    if (XGBoosterSaveModelToBuffer(b, "{\"format\": \"ubj\"}", &n, &p) != 0)
        return fail(errstr, errstr_size, "serialise booster");
    *buf = malloc(n ? n : 1);
    if (!*buf) {
        snprintf(errstr, errstr_size, "out of memory serialising booster");
        return -1;
    }
    memcpy(*buf, p, n);
    *len = n;
    return 0;
}

int fc_xgb_load(const char *buf, size_t len, fc_booster *out, char *errstr,
                size_t errstr_size)
{
    BoosterHandle h = NULL;
    if (XGBoosterCreate(NULL, 0, &h) != 0)
        return fail(errstr, errstr_size, "create booster");
    if (XGBoosterLoadModelFromBuffer(h, buf, len) != 0) {
        fail(errstr, errstr_size, "load booster");
        XGBoosterFree(h);
        return -1;
    }
    *out = h;
    return 0;
}

void fc_xgb_free(fc_booster b)
{
    if (b)
        XGBoosterFree(b);
}

const char *fc_xgb_version(void)
{
    static char v[32];
    int ma = 0, mi = 0, pa = 0;
    XGBoostVersion(&ma, &mi, &pa);
    snprintf(v, sizeof v, "xgboost-%d.%d.%d", ma, mi, pa);
    return v;
}

void fc_xgb_omp_passive(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv); /* on failure, go on spinning */
}
