/* Quantile-table fixtures shared by the forecaster's unit tests. */
#ifndef EMS_TESTS_FC_QFIXTURE_H
#define EMS_TESTS_FC_QFIXTURE_H

#include "forecaster/fc_quantile.h"

/* Fits t so that its 10:00 cell (lead 30 h) has P10/P90 offsets -40/+40:
 * the 101 residuals -50..50 at band 0.9 (h = 10 and 90 fall on order
 * statistics). Fails the test when the fit does not give them. */
void tfc_qtable_wide40(fc_qtable *t);

#endif
