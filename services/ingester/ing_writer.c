/*
 * ing_writer: concurrent readings COPY on several sessions (ing_writer.h).
 */
#include "ingester/ing_writer.h"
#include "clock/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ingester/ing_pg.h"
#include "ingester/ing_redis.h"

enum { JOB_IDLE = 0, JOB_QUEUED, JOB_DONE };

typedef struct wthread {
    ing_writer_t *w;
    pthread_t tid;
    bool started;
    db_t *db;
    ing_pg_t *pg;
    ing_redis_t *redis; /* NULL without Redis */
} wthread_t;

struct ing_writer {
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    ing_job_t *head, *tail;
    bool stop;
    wthread_t *th;
    int nth;
};

/* Stores one job on this thread's session. After a failure the session is
 * checked (and reset when broken) so the next job starts clean. */
static void run_job(wthread_t *t, ing_job_t *j)
{
    double t0 = ems_mono_s();
    int64_t slow0 = ing_pg_fallbacks(t->pg) + ing_pg_recomputes(t->pg);
    char e2[128];

    j->err[0] = '\0';
    if (j->iv || j->gaps)
        j->rc = ing_pg_store_outputs(t->pg, j->iv, j->niv, j->gaps, j->ngaps,
                                     j->recompute, j->err, sizeof j->err);
    else
        j->rc = ing_pg_store_readings(t->pg, j->rd, j->n, j->is_new, &j->inserted,
                                      j->err, sizeof j->err);
    if (j->rc) {
        ing_pg_reset(t->pg);
        db_check(t->db, e2, sizeof e2);
    }
    j->seconds = ems_mono_s() - t0;
    j->slow_path = ing_pg_fallbacks(t->pg) + ing_pg_recomputes(t->pg) != slow0;
    j->redis_err[0] = '\0';
    if (j->rc == 0 && t->redis && j->inserted)
        ing_redis_write(t->redis, j->rd, j->is_new, j->n, j->redis_err,
                        sizeof j->redis_err);
    j->redis_seconds = ems_mono_s() - t0 - j->seconds;
}

static void *thread_main(void *arg)
{
    wthread_t *t = arg;
    ing_writer_t *w = t->w;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        ing_job_t *j;
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->work, &w->lock);
        if (!w->head)
            break; /* stopping and nothing queued */
        j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        run_job(t, j);
        pthread_mutex_lock(&w->lock);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ing_writer_t *ing_writer_new(const db_conf_t *dbc, const ing_writer_redis_t *redis,
                             int nthreads, char *errstr, size_t errstr_size)
{
    ing_writer_t *w = calloc(1, sizeof *w);

    if (!w || !(w->th = calloc((size_t)nthreads, sizeof *w->th))) {
        free(w);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    w->nth = nthreads;
    for (int i = 0; i < nthreads; i++) {
        wthread_t *t = &w->th[i];
        t->w = w;
        if (!(t->db = db_connect(dbc, errstr, errstr_size)))
            goto fail;
        if (redis && redis->addr &&
            !(t->redis = ing_redis_new(redis->addr, redis->password, redis->prefix,
                                       redis->ttl_ms))) {
            snprintf(errstr, errstr_size, "redis.addr '%s': expected host:port",
                     redis->addr);
            goto fail;
        }
        if (!(t->pg = ing_pg_new(t->db))) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        if (pthread_create(&t->tid, NULL, thread_main, t)) {
            snprintf(errstr, errstr_size, "cannot start a writer thread");
            goto fail;
        }
        t->started = true;
    }
    return w;
fail:
    ing_writer_destroy(w);
    return NULL;
}

void ing_writer_submit(ing_writer_t *w, ing_job_t *job)
{
    pthread_mutex_lock(&w->lock);
    job->state = JOB_QUEUED;
    job->next = NULL;
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
}

bool ing_writer_done(ing_writer_t *w, const ing_job_t *job)
{
    bool d;

    pthread_mutex_lock(&w->lock);
    d = job->state == JOB_DONE;
    pthread_mutex_unlock(&w->lock);
    return d;
}

bool ing_writer_wait(ing_writer_t *w, const ing_job_t *job, int timeout_ms)
{
    struct timespec until = ems_wall_deadline(timeout_ms);
    bool d;

    pthread_mutex_lock(&w->lock);
    while (job->state != JOB_DONE &&
           pthread_cond_timedwait(&w->done, &w->lock, &until) != ETIMEDOUT)
        ;
    d = job->state == JOB_DONE;
    pthread_mutex_unlock(&w->lock);
    return d;
}

void ing_writer_destroy(ing_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nth; i++) {
        if (w->th[i].started)
            pthread_join(w->th[i].tid, NULL);
        ing_pg_destroy(w->th[i].pg);
        ing_redis_destroy(w->th[i].redis);
        db_close(w->th[i].db);
    }
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->lock);
    free(w->th);
    free(w);
}
