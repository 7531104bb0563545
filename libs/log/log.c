/*
 * log: JSON lines. A line is formatted completely in memory, then written
 * with one write(2) (stderr) or one locked fwrite+fflush (a test stream), so
 * lines of concurrent threads never interleave.
 */
#include "log/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char g_service[64] = "ems";
static log_level_t g_min = LOG_INFO;
static FILE *g_stream; /* NULL = stderr through write(2) */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, log_level_t min_level)
{
    pthread_mutex_lock(&g_mu);
    snprintf(g_service, sizeof g_service, "%s", service ? service : "ems");
    g_min = min_level;
    pthread_mutex_unlock(&g_mu);
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (s && strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_set_stream(FILE *f)
{
    pthread_mutex_lock(&g_mu);
    g_stream = f;
    pthread_mutex_unlock(&g_mu);
}

typedef struct lbuf {
    char *p;
    size_t len, cap;
    char stack[1024];
} lbuf_t;

static void lb_put(lbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap * 2;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *np = b->p == b->stack ? malloc(ncap) : realloc(b->p, ncap);
        if (!np)
            return; /* drop the tail rather than fail the caller */
        if (b->p == b->stack)
            memcpy(np, b->stack, b->len);
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 4;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((need == 3 && s[0] == 0xE0 && s[1] < 0xA0) ||
        (need == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
        (need == 4 && s[0] == 0xF0 && s[1] < 0x90) ||
        (need == 4 && s[0] == 0xF4 && s[1] >= 0x90))
        return 0;
    return need;
}

/* Appends s as the body of a JSON string: '"', '\' and control characters
 * escaped, invalid UTF-8 bytes replaced by U+FFFD. */
static void lb_json(lbuf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        char esc[8];
        size_t k = utf8_len(p, n);
        if (k == 0) {
            lb_put(b, "\\ufffd", 6);
            k = 1;
        } else if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            lb_put(b, esc, 2);
        } else if (*p == '\n') {
            lb_put(b, "\\n", 2);
        } else if (*p == '\t') {
            lb_put(b, "\\t", 2);
        } else if (*p == '\r') {
            lb_put(b, "\\r", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            lb_put(b, esc, 6);
        } else {
            lb_put(b, (const char *)p, k);
        }
        p += k;
        n -= k;
    }
}

static void lb_field(lbuf_t *b, const char *key, const char *val, int first)
{
    if (!first)
        lb_put(b, ",", 1);
    lb_put(b, "\"", 1);
    lb_put(b, key, strlen(key));
    lb_put(b, "\":\"", 3);
    lb_json(b, val);
    lb_put(b, "\"", 1);
}

static void format_ts(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void emit(const char *line, size_t len)
{
    pthread_mutex_lock(&g_mu);
    FILE *f = g_stream;
    if (f) {
        fwrite(line, 1, len, f);
        fflush(f);
    } else {
        /* One write per line; a short write (pipe full, signal) retries the
         * rest rather than drop it. */
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(STDERR_FILENO, line + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

void log_msg(log_level_t lvl, const char *module, const char *fmt, ...)
{
    if ((int)lvl < (int)LOG_DEBUG || lvl > LOG_ERROR)
        lvl = LOG_ERROR;
    if (lvl < g_min)
        return;
    char small[512], *msg = small, ts[40];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof small && (msg = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else if (n < 0 || !msg) {
        msg = small;
    }
    format_ts(ts, sizeof ts);
    lbuf_t b = {.len = 0, .cap = sizeof b.stack};
    b.p = b.stack;
    lb_put(&b, "{", 1);
    lb_field(&b, "ts", ts, 1);
    lb_field(&b, "level", level_names[lvl], 0);
    lb_field(&b, "service", g_service, 0);
    lb_field(&b, "module", module ? module : "", 0);
    lb_field(&b, "msg", msg, 0);
    lb_put(&b, "}\n", 2);
    emit(b.p, b.len);
    if (b.p != b.stack)
        free(b.p);
    if (msg != small)
        free(msg);
}
