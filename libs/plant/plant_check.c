/* plant: checks across objects (duplicate ids, references, overlapping
 * registers), run once every object has been read. */
#include <string.h>

#include "plant/plant.h"
#include "plant/plant_int.h"

static const plant_site_t *find_site(const plant_t *p, const char *id)
{
    for (size_t i = 0; id && i < p->nsites; i++)
        if (!strcmp(p->sites[i].id, id))
            return &p->sites[i];
    return NULL;
}

static int check_duplicates(ctx_t *c)
{
    const plant_t *p = c->p;
    *c->what = '\0';
    for (size_t i = 0; i < p->nsites; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->sites[i].id, p->sites[j].id))
                return plant_err(c, LINE_NODE(c, p->sites[i].line),
                                 "duplicate site id '%s' (first at line %d)",
                                 p->sites[i].id, p->sites[j].line);
    for (size_t i = 0; i < p->nmeters; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->meters[i].id, p->meters[j].id))
                return plant_err(c, LINE_NODE(c, p->meters[i].line),
                                 "duplicate meter id '%s' (first at line %d)",
                                 p->meters[i].id, p->meters[j].line);
    for (size_t i = 0; i < p->nequipment; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->equipment[i].id, p->equipment[j].id))
                return plant_err(c, LINE_NODE(c, p->equipment[i].line),
                                 "duplicate equipment id '%s' (first at line %d)",
                                 p->equipment[i].id, p->equipment[j].line);
    return 0;
}

static bool same_device(const plant_device_t *a, const plant_device_t *b)
{
    return a->port == b->port && a->unit_id == b->unit_id && !strcmp(a->host, b->host);
}

/* Two registers of one device (host, port, unit id) and register type may not
 * share a word. */
static int check_overlap(ctx_t *c, const plant_meter_t *m, const plant_register_t *r)
{
    const plant_t *p = c->p;
    int lo = r->address, hi = r->address + plant_dtype_words(r->dtype);
    for (const plant_meter_t *o = p->meters; o <= m; o++) {
        if (!same_device(&o->device, &m->device))
            continue;
        for (size_t k = 0; k < o->nregisters && &o->registers[k] != r; k++) {
            const plant_register_t *q = &o->registers[k];
            int qlo = q->address, qhi = q->address + plant_dtype_words(q->dtype);
            if (q->reg_type == r->reg_type && lo < qhi && qlo < hi)
                return plant_err(
                    c, LINE_NODE(c, r->line),
                    "register %s at %d overlaps %s of meter %s (line %d) on "
                    "%s:%d unit %d",
                    plant_quantity_names[r->quantity], r->address,
                    plant_quantity_names[q->quantity], o->id, q->line, m->device.host,
                    m->device.port, m->device.unit_id);
        }
    }
    return 0;
}

static int check_meter_refs(ctx_t *c, const plant_meter_t *m)
{
    const yaml_node_t *at = LINE_NODE(c, m->line);
    snprintf(c->what, sizeof c->what, "meter %s", m->id);
    if (!find_site(c->p, m->site_id))
        return plant_err(c, at, "site: unknown site '%s'", m->site_id);
    if (m->equipment_id) {
        const plant_equipment_t *e = plant_equipment(c->p, m->equipment_id);
        if (!e)
            return plant_err(c, at, "equipment: unknown equipment '%s'",
                             m->equipment_id);
        if (strcmp(e->site_id, m->site_id))
            return plant_err(c, at, "equipment: '%s' belongs to site '%s'", e->id,
                             e->site_id);
    }
    for (size_t k = 0; k < m->nregisters; k++)
        if (check_overlap(c, m, &m->registers[k]) < 0)
            return -1;
    return 0;
}

static int check_equipment_refs(ctx_t *c, const plant_equipment_t *e)
{
    const yaml_node_t *at = LINE_NODE(c, e->line);
    snprintf(c->what, sizeof c->what, "equipment %s", e->id);
    if (!find_site(c->p, e->site_id))
        return plant_err(c, at, "site: unknown site '%s'", e->site_id);
    if (e->meter_id) {
        const plant_meter_t *m = plant_meter(c->p, e->meter_id);
        if (!m)
            return plant_err(c, at, "meter: unknown meter '%s'", e->meter_id);
        if (strcmp(m->site_id, e->site_id))
            return plant_err(c, at, "meter: '%s' belongs to site '%s'", m->id,
                             m->site_id);
    }
    return 0;
}

int plant_check_refs(ctx_t *c)
{
    if (check_duplicates(c) < 0)
        return -1;
    for (size_t i = 0; i < c->p->nmeters; i++)
        if (check_meter_refs(c, &c->p->meters[i]) < 0)
            return -1;
    for (size_t i = 0; i < c->p->nequipment; i++)
        if (check_equipment_refs(c, &c->p->equipment[i]) < 0)
            return -1;
    return 0;
}
