/*
 * The scada-gateway's state file (energy counters, executed command ids,
 * last writes) on any text, as sg_state_load() reads it at start-up: a
 * file the gateway wrote, but one a crash, a full disk or a hand edit may
 * have broken. A text that decodes is encoded again, and that encoding
 * must decode: the gateway must be able to read back what it saves.
 * Input: the file's bytes.
 */
#include <stdlib.h>

#include "fz.h"
#include "scada-gateway/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], *text = fz_strndup(data, size), *again;
    sg_state_t *st = sg_state_new(NULL);

    if (!st)
        abort();
    if (sg_state_decode(st, text, err, sizeof err) == 0 &&
        (again = sg_state_encode(st))) {
        if (sg_state_decode(st, again, err, sizeof err) != 0)
            abort(); /* the gateway could not read back what it saved */
        free(again);
    }
    sg_state_destroy(st);
    free(text);
    return 0;
}
