/* fc_xgb: thin wrapper over XGBoost's C API for the forecaster's trees.
 *
 * Dense float rows in, one regression target per row; NaN marks a missing
 * feature. Calls are not reentrant on one booster; different boosters may be
 * used from different threads. */
#ifndef FC_XGB_H
#define FC_XGB_H

#include <stddef.h>

typedef struct fc_xgb_params {
    int rounds, max_depth, nthread, max_bin;
    double eta, subsample, min_child_weight, lambda;
} fc_xgb_params;

typedef void *fc_booster; /* BoosterHandle */

/* Trains on n rows of nfeat features. Returns 0 and a booster the caller
 * frees with fc_xgb_free, or -1 with errstr filled. */
int fc_xgb_train(const float *x, const float *y, size_t n, int nfeat,
                 const fc_xgb_params *p, fc_booster *out, char *errstr,
                 size_t errstr_size);

/* Predicts n rows into out[n]. Returns 0 or -1 with errstr filled. */
int fc_xgb_predict(fc_booster b, const float *x, size_t n, int nfeat, float *out,
                   char *errstr, size_t errstr_size);

/* Serialises to a malloc'd buffer the caller frees (UBJSON model format). */
int fc_xgb_save(fc_booster b, char **buf, size_t *len, char *errstr,
                size_t errstr_size);
int fc_xgb_load(const char *buf, size_t len, fc_booster *out, char *errstr,
                size_t errstr_size);

void fc_xgb_free(fc_booster b);

/* XGBoost runs on OpenMP, whose threads spin-wait by default; on shared or
 * CPU-limited hosts that made training ten times slower. The policy is read
 * when the runtime loads, so, unless the environment already chose one,
 * this sets OMP_WAIT_POLICY=PASSIVE and re-executes the program once with
 * argv; if that fails it returns and training spins. Call it first in
 * main(), before any thread starts. */
void fc_xgb_omp_passive(char **argv);

/* "xgboost-<major>.<minor>.<patch>" of the linked library. */
const char *fc_xgb_version(void);

#endif
