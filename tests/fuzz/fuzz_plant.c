/*
 * The plant-model loader on any file: YAML parsed and validated
 * (plant_load_string), then what the services ask of a loaded model: each
 * site's meters and equipment, tariff periods over a week and holidays,
 * each register's decoding of a few fixed words. Input: the YAML.
 */
#include <stdlib.h>

#include "fz.h"
#include "plant/plant.h"

static void walk_site(const plant_t *p, const plant_site_t *s)
{
    const plant_meter_t *m = NULL;
    const plant_equipment_t *e = NULL;

    while ((m = plant_site_meter_next(p, s->id, m)))
        for (int q = PLANT_Q_POWER_KW; q <= PLANT_Q_POWER_FACTOR; q++) {
            static const uint16_t words[4] = {0x8000, 0x0001, 0xffff, 0x7fff};
            const plant_register_t *r = plant_meter_register(m, (plant_quantity_t)q);
            if (r)
                (void)plant_register_decode(r, words);
        }
    while ((e = plant_site_equipment_next(p, s->id, e)))
        ;
    for (int wday = 0; wday < 7; wday++)
        for (int minute = 0; minute < 1440; minute += 15)
            (void)plant_tariff_period_at(s, wday, minute, wday == 6);
    (void)plant_site_is_holiday(s, 2026, 12, 25);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    plant_t *p =
        plant_load_string("fuzz.yaml", (const char *)data, size, err, sizeof err);

    if (!p)
        return 0;
    for (size_t i = 0; i < plant_site_count(p); i++)
        walk_site(p, plant_site_at(p, i));
    plant_destroy(p);
    return 0;
}
