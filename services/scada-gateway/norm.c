/*
 * norm: read plan, decoding and energy counters (see norm.h).
 */
#include "scada-gateway/norm.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const quality_names[] = {"good", "stale", "comm_error",
                                            "out_of_range", "substituted"};

const char *sg_quality_name(sg_quality_t q)
{
    return (unsigned)q < 5 ? quality_names[q] : "?";
}

void sg_reading_init(sg_reading_t *r, const plant_meter_t *m, int64_t ts_ms,
                     sg_source_t src)
{
    memset(r, 0, sizeof *r);
    snprintf(r->site_id, sizeof r->site_id, "%s", m->site_id);
    snprintf(r->meter_id, sizeof r->meter_id, "%s", m->id);
    r->ts_ms = ts_ms;
    r->source = src;
    r->quality = SG_Q_GOOD;
}

/* Registers sorted by (type, address) as indexes into m->registers. */
static void sort_registers(const plant_meter_t *m, size_t *idx)
{
    for (size_t i = 0; i < m->nregisters; i++)
        idx[i] = i;
    for (size_t i = 1; i < m->nregisters; i++) {
        size_t v = idx[i], j = i;
        const plant_register_t *rv = &m->registers[v];
        while (j > 0) {
            const plant_register_t *rp = &m->registers[idx[j - 1]];
            if (rp->reg_type < rv->reg_type ||
                (rp->reg_type == rv->reg_type && rp->address <= rv->address))
                break;
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

int sg_plan_blocks(const plant_meter_t *m, int max_gap, sg_block_t *blocks, int max)
{
    size_t idx[64];
    int n = 0;
    if (m->nregisters > 64)
        return -1;
    sort_registers(m, idx);
    for (size_t i = 0; i < m->nregisters; i++) {
        const plant_register_t *r = &m->registers[idx[i]];
        int end = r->address + plant_dtype_words(r->dtype);
        sg_block_t *b = n > 0 ? &blocks[n - 1] : NULL;
        if (b && b->type == r->reg_type &&
            r->address <= b->address + b->count + max_gap &&
            end - b->address <= SG_BLOCK_MAX_WORDS) {
            if (end > b->address + b->count)
                b->count = end - b->address;
            continue;
        }
        if (n == max)
            return -1;
        b = &blocks[n++];
        memset(b, 0, sizeof *b);
        b->type = r->reg_type;
        b->address = r->address;
        b->count = end - r->address;
    }
    return n;
}

const uint16_t *sg_block_words(const sg_block_t *blocks, int n,
                               const plant_register_t *r)
{
    int words = plant_dtype_words(r->dtype);
    for (int i = 0; i < n; i++) {
        const sg_block_t *b = &blocks[i];
        if (b->type == r->reg_type && r->address >= b->address &&
            r->address + words <= b->address + b->count)
            return &b->words[r->address - b->address];
    }
    return NULL;
}

/* FNV-1a over the words of every block. */
static uint64_t words_hash(const sg_block_t *blocks, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < blocks[i].count; k++) {
            h = (h ^ (blocks[i].words[k] & 0xff)) * 1099511628211ULL;
            h = (h ^ (blocks[i].words[k] >> 8)) * 1099511628211ULL;
        }
    return h;
}

void sg_decode_meter(const plant_meter_t *m, const sg_block_t *blocks, int n,
                     sg_reading_t *r, uint64_t *hash)
{
    for (size_t i = 0; i < m->nregisters; i++) {
        const plant_register_t *reg = &m->registers[i];
        const uint16_t *w = sg_block_words(blocks, n, reg);
        if (!w || (unsigned)reg->quantity >= SG_NQ)
            continue;
        r->v[reg->quantity] = plant_register_decode(reg, w);
        r->has |= 1u << reg->quantity;
    }
    if (hash)
        *hash = words_hash(blocks, n);
}

double sg_counter_wrap_kwh(const plant_register_t *r)
{
    double span;
    switch (r->dtype) {
    case PLANT_DT_INT16:
    case PLANT_DT_UINT16:
        span = 65536.0;
        break;
    case PLANT_DT_INT32:
    case PLANT_DT_UINT32:
        span = 4294967296.0;
        break;
    case PLANT_DT_UINT64:
        span = 18446744073709551616.0;
        break;
    default:
        return 0;
    }
    return fabs(span * r->scale * r->unit_factor);
}

sg_counter_event_t sg_counter_update(sg_counter_t *c, double raw_kwh, double wrap_kwh,
                                     double *total_kwh)
{
    sg_counter_event_t ev = SG_CNT_OK;
    if (!isfinite(raw_kwh)) {
        *total_kwh = raw_kwh;
        return SG_CNT_OK;
    }
    if (!c->has_prev) {
        ev = SG_CNT_FIRST;
    } else if (raw_kwh < c->prev_raw) {
        double drop = c->prev_raw - raw_kwh;
        bool rollover = wrap_kwh > 0 && drop > wrap_kwh / 2;
        double offset = c->offset + (rollover ? wrap_kwh : drop);
        if (!isfinite(offset)) {
            /* A drop no counter makes (garbage words of a float64 register,
             * a bogus payload) overflowed the offset: kept, it made every
             * later total infinite, and the state file, which cannot hold
             * it, unwritable. Treated like a non-finite raw value. */
            *total_kwh = offset;
            return SG_CNT_OK;
        }
        c->offset = offset;
        ev = rollover ? SG_CNT_ROLLOVER : SG_CNT_REPLACED;
    }
    c->has_prev = true;
    c->prev_raw = raw_kwh;
    *total_kwh = raw_kwh + c->offset;
    return ev;
}
