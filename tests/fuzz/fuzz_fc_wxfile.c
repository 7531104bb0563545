/*
 * The forecaster's weather files on any text: what a provider drops in
 * forecaster.weather_dir or a weather URL answers (CSV, or Open-Meteo
 * JSON), parsed by fc_wxfile_parse(), and the cut-off test the directory
 * scan applies to a file that does not parse. Input: the file's bytes.
 */
#include "forecaster/fc_wxfile.h"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    fc_wxdata wx;

    fc_wxdata_init(&wx);
    if (fc_wxfile_parse((const char *)data, size, &wx, err, sizeof err) == 0)
        (void)fc_wxdata_find(&wx, FC_WX_TEMP);
    else
        (void)fc_wxfile_cut_off((const char *)data, size);
    fc_wxdata_release(&wx);
    return 0;
}
