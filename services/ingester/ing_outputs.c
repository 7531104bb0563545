/*
 * ing_outputs: the closed intervals (energy.load) and gaps (energy.gaps)
 * of fed batches: published, then stored on their own session while the
 * next batches are written, then the batches' offsets committed (see
 * ing_service_int.h and docs/ingester.md, Pipeline).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_codec.h"
#include "ingester/ing_service_int.h"
#include "log/log.h"

/* One output record. The value of each topic is made once and refilled:
 * the codec sets every field of the schema. */
static int out_publish_one(ing_service_t *s, const char *topic, const void *rec,
                           int is_gap, const char *key, int64_t ts)
{
    avro_value_t *v = is_gap ? &s->v_gap : &s->v_load;
    bool *made = is_gap ? &s->v_gap_made : &s->v_load_made;
    char err[512];
    int rc = -1;

    if (!*made && bus_value_new(svc_bus(s->svc), topic, v, err, sizeof err))
        goto out;
    *made = true;
    if (is_gap ? ing_codec_gap(rec, v) : ing_codec_interval(rec, v)) {
        snprintf(err, sizeof err, "record does not fit the schema");
        goto out;
    }
    rc = bus_produce(svc_producer(s->svc), topic, key, v, ts, err, sizeof err);
out:
    if (rc)
        log_error("ingester", "publishing on %s: %s", topic, err);
    return rc;
}

/* Enqueues the intervals and gaps not enqueued yet; their delivery is
 * awaited before they are stored (start_outputs). They are published
 * before they are stored: a crash in between leaves the database without
 * them, and the restore at the next start republishes. */
int ing_out_publish(ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    for (; s->pub_iv < niv; s->pub_iv++)
        if (out_publish_one(s, "energy.load", &iv[s->pub_iv], 0, iv[s->pub_iv].site_id,
                            iv[s->pub_iv].end_ms))
            return -1;
    for (; s->pub_gap < ng; s->pub_gap++)
        if (out_publish_one(s, "energy.gaps", &g[s->pub_gap], 1, g[s->pub_gap].site_id,
                            g[s->pub_gap].detected_ms))
            return -1;
    return 0;
}

/* Grows *arr (of *cap elements of size) to hold n. 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    void *p;

    if (n <= *cap)
        return 0;
    if (!(p = realloc(*arr, n * size)))
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

void ing_out_metrics(ing_service_t *s)
{
    int64_t closed, corrected, too_late;

    ing_rollup_stats(s->roll, &closed, &corrected, &too_late);
    obs_counter_add(s->m_closed, (double)closed - obs_counter_value(s->m_closed));
    obs_counter_add(s->m_corr, (double)corrected - obs_counter_value(s->m_corr));
    obs_counter_add(s->m_late, (double)too_late - obs_counter_value(s->m_late));
    obs_gauge_set(s->m_gaps, (double)ing_rollup_open_gaps(s->roll));
}

/* Commits o (the offsets of batches whose readings and outputs are
 * stored). A failed commit gives them back to the held ones, so the next
 * commit covers them. */
static void out_commit(ing_service_t *s, bus_offsets_t *o)
{
    char err[512];

    if (!o)
        return;
    if (bus_consumer_commit_offsets(s->cons, o, err, sizeof err)) {
        log_warn("ingester", "ack: %s", err);
        if (!s->held) {
            s->held = o;
            return;
        }
        bus_offsets_merge(s->held, o);
    }
    bus_offsets_destroy(o);
}

/* Hands the held outputs to the outputs session: their delivery awaited
 * (they are published before they are stored), copied, the rollups' lists
 * cleared, the held offsets moved with them. Returns -1 only when
 * publishing failed (fatal). */
int ing_out_start(ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;
    char err[512];
    double t = ems_mono_s();

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    if ((niv || ng) &&
        bus_producer_flush(svc_producer(s->svc), 30000, err, sizeof err)) {
        log_error("ingester", "publishing rollups: %s", err);
        return -1;
    }
    ing_stage(s, ST_PUBLISH, &t);
    if (grow((void **)&s->oiv, &s->oivcap, niv, sizeof *iv) ||
        grow((void **)&s->og, &s->ogcap, ng, sizeof *g)) {
        log_error("ingester", "out of memory holding %zu rollups", niv + ng);
        return 0; /* held; retried at the next step */
    }
    if (niv)
        memcpy(s->oiv, iv, niv * sizeof *iv);
    if (ng)
        memcpy(s->og, g, ng * sizeof *g);
    s->ojob = (ing_job_t){.iv = niv ? s->oiv : NULL,
                          .niv = niv,
                          .gaps = ng ? s->og : NULL,
                          .ngaps = ng,
                          .recompute = s->out_recompute};
    s->out_recompute = false;
    s->ooffs = s->held;
    s->held = NULL;
    ing_rollup_clear(s->roll);
    s->pub_iv = s->pub_gap = 0;
    s->pending = false;
    s->ot0 = s->pending_t0;
    s->obusy = true;
    if (niv || ng)
        ing_writer_submit(s->outw, &s->ojob);
    log_debug("ingester",
              "outputs handed over: %zu intervals, %zu gaps (%d batches "
              "being written)",
              niv, ng, s->count);
    return 0;
}

/* The outputs job is done: on success commit its offsets; on a database
 * error store it again (held, with its offsets, meanwhile). */
void ing_out_finish(ing_service_t *s)
{
    double t = ems_mono_s();

    if ((s->ojob.iv || s->ojob.gaps) && s->ojob.rc) {
        ing_db_failed(s, "storing rollups", s->ojob.err);
        ing_writer_submit(s->outw, &s->ojob);
        return;
    }
    obs_counter_add(s->m_stage[ST_OUTPUTS], s->ojob.seconds);
    if (s->ojob.slow_path)
        obs_counter_inc(s->m_slow_iv);
    if (s->db_down && !s->recovering)
        log_info("ingester", "database back: batch stored");
    s->db_down = 0;
    log_debug("ingester", "outputs stored in %.3f s; offsets committed",
              s->ojob.seconds);
    out_commit(s, s->ooffs);
    s->ooffs = NULL;
    s->obusy = false;
    ing_out_metrics(s);
    ing_stage(s, ST_ACK, &t);
    obs_histogram_observe(s->m_latency, ems_mono_s() - s->ot0);
}

/* Whether the outputs job (if any) is over. */
bool ing_out_done(ing_service_t *s)
{
    return !s->obusy || (!s->ojob.iv && !s->ojob.gaps) ||
           ing_writer_done(s->outw, &s->ojob);
}

/* Waits for the outputs job, then stores what is still held and waits
 * for that too (shutdown: one attempt each). */
void ing_out_drain(ing_service_t *s)
{
    for (int round = 0; round < 2; round++) {
        while (s->obusy && !ing_out_done(s))
            ing_writer_wait(s->outw, &s->ojob, 1000);
        if (s->obusy) {
            if ((s->ojob.iv || s->ojob.gaps) && s->ojob.rc) {
                log_error("ingester", "storing rollups: %s", s->ojob.err);
                return; /* offsets stay uncommitted: re-read at the next start */
            }
            ing_out_finish(s);
        }
        if (!s->pending || ing_out_start(s))
            return;
    }
}

size_t ing_out_held(const ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    return niv + ng;
}

bool ing_out_due(bool drained, int64_t flush_ms, double held_ms, size_t held,
                 int64_t batch)
{
    return drained || flush_ms == 0 || held_ms >= (double)flush_ms ||
           held >= (size_t)batch;
}

bool ing_out_flush_due(ing_service_t *s)
{
    return ing_out_due(s->caught_up && s->count == 0 && !s->prep,
                       s->conf.rollup_flush_ms, (ems_mono_s() - s->pending_t0) * 1000.0,
                       ing_out_held(s), s->conf.rollup_batch);
}
