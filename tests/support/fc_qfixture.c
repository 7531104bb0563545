/* Quantile-table fixtures; see fc_qfixture.h. */
#include "fc_qfixture.h"

#include <check.h>

void tfc_qtable_wide40(fc_qtable *t)
{
    fc_qacc a;
    fc_qacc_init(&a);
    for (int i = -50; i <= 50; i++)
        fc_qacc_add(&a, 30, 10 * 3600, i);
    fc_qtable_fit(t, &a, 0.9);
    fc_qacc_release(&a);
    double lo, mid, hi;
    fc_qtable_get(t, 30, 10 * 3600, &lo, &mid, &hi);
    ck_assert_double_eq_tol(lo, -40, 1e-9);
    ck_assert_double_eq_tol(hi, 40, 1e-9);
}
