/*
 * devbroker control: see control.h. One client at a time; each line is a
 * command and gets one reply line, "ok" or "error: <why>":
 *
 *   fail <api-key> <count> <error-code>  the next <count> requests of that
 *                                        type fail with <error-code>
 *   clear <api-key>                      forget the failures still pending
 *
 * <api-key> is the Kafka request type (0 Produce, 1 Fetch, 8 OffsetCommit,
 * ...), <error-code> a Kafka protocol error code (29
 * TOPIC_AUTHORIZATION_FAILED, 10 MESSAGE_TOO_LARGE, ...). Failures are
 * cluster-wide: every client's requests of that type fail, in order.
 */
#include "control.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL_LINE_MAX 256
#define CTL_MAX_COUNT 100000

struct db_control {
    rd_kafka_mock_cluster_t *mc;
    int listen_fd;
    int client_fd; /* -1 when no client is connected */
    char line[CTL_LINE_MAX];
    size_t len;
};

/* Parses a decimal integer in [min, max] ending the token; -1 when invalid. */
static int ctl_int(const char *s, long min, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno || end == s || *end || *out < min || *out > max ? -1 : 0;
}

static int ctl_fail(rd_kafka_mock_cluster_t *mc, char **tok, int ntok, char *reply,
                    size_t reply_size)
{
    rd_kafka_resp_err_t *errs;
    long api, count, code;

    if (ntok != 4 || ctl_int(tok[1], 0, 100, &api) ||
        ctl_int(tok[2], 1, CTL_MAX_COUNT, &count) ||
        ctl_int(tok[3], -200, 1000, &code)) {
        snprintf(reply, reply_size,
                 "error: usage: fail <api-key 0..100> <count 1..%d> <error-code>",
                 CTL_MAX_COUNT);
        return -1;
    }
    if (!(errs = malloc((size_t)count * sizeof(*errs)))) {
        snprintf(reply, reply_size, "error: out of memory");
        return -1;
    }
    for (long i = 0; i < count; i++)
        errs[i] = (rd_kafka_resp_err_t)code;
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)api, (size_t)count, errs);
    free(errs);
    snprintf(reply, reply_size, "ok");
    return 0;
}

static int ctl_clear(rd_kafka_mock_cluster_t *mc, char **tok, int ntok, char *reply,
                     size_t reply_size)
{
    long api;

    if (ntok != 2 || ctl_int(tok[1], 0, 100, &api)) {
        snprintf(reply, reply_size, "error: usage: clear <api-key 0..100>");
        return -1;
    }
    rd_kafka_mock_clear_request_errors(mc, (int16_t)api);
    snprintf(reply, reply_size, "ok");
    return 0;
}

int db_control_run(rd_kafka_mock_cluster_t *mc, const char *line, char *reply,
                   size_t reply_size)
{
    char buf[CTL_LINE_MAX], *tok[8], *save = NULL, *t;
    int ntok = 0;

    snprintf(buf, sizeof(buf), "%s", line);
    for (t = strtok_r(buf, " \t\r", &save); t && ntok < 8;
         t = strtok_r(NULL, " \t\r", &save))
        tok[ntok++] = t;
    if (ntok > 0 && strcmp(tok[0], "fail") == 0)
        return ctl_fail(mc, tok, ntok, reply, reply_size);
    if (ntok > 0 && strcmp(tok[0], "clear") == 0)
        return ctl_clear(mc, tok, ntok, reply, reply_size);
    snprintf(reply, reply_size, "error: unknown command (fail, clear)");
    return -1;
}

db_control *db_control_new(rd_kafka_mock_cluster_t *mc, int port)
{
    db_control *ctl = calloc(1, sizeof(*ctl));
    struct sockaddr_in sin;
    int one = 1;

    if (!ctl)
        return NULL;
    ctl->mc = mc;
    ctl->client_fd = -1;
    ctl->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never beyond this host */
    sin.sin_port = htons((uint16_t)port);
    if (ctl->listen_fd < 0 ||
        setsockopt(ctl->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(ctl->listen_fd, (const struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(ctl->listen_fd, 4) != 0) {
        db_log("error", "cannot listen for control on 127.0.0.1:%d: %s", port,
               strerror(errno));
        db_control_destroy(ctl);
        return NULL;
    }
    return ctl;
}

static void ctl_drop_client(db_control *ctl)
{
    close(ctl->client_fd);
    ctl->client_fd = -1;
    ctl->len = 0;
}

/* Runs every complete line in the buffer, replying to each. */
static void ctl_run_lines(db_control *ctl)
{
    char reply[CTL_LINE_MAX + 64], *nl;

    while ((nl = memchr(ctl->line, '\n', ctl->len))) {
        size_t used = (size_t)(nl - ctl->line) + 1;

        *nl = '\0';
        if (db_control_run(ctl->mc, ctl->line, reply, sizeof(reply) - 1) == 0)
            db_log("info", "control: %.200s", ctl->line);
        strcat(reply, "\n");
        if (write(ctl->client_fd, reply, strlen(reply)) < 0) {
            ctl_drop_client(ctl);
            return;
        }
        memmove(ctl->line, ctl->line + used, ctl->len - used);
        ctl->len -= used;
    }
    if (ctl->len == sizeof(ctl->line)) /* a line longer than any command */
        ctl_drop_client(ctl);
}

static void ctl_read(db_control *ctl)
{
    ssize_t n =
        read(ctl->client_fd, ctl->line + ctl->len, sizeof(ctl->line) - ctl->len);

    if (n <= 0) {
        ctl_drop_client(ctl);
        return;
    }
    ctl->len += (size_t)n;
    ctl_run_lines(ctl);
}

void db_control_serve(db_control *ctl, int timeout_ms)
{
    struct pollfd p = {.events = POLLIN};

    p.fd = ctl->client_fd >= 0 ? ctl->client_fd : ctl->listen_fd;
    if (poll(&p, 1, timeout_ms) <= 0)
        return;
    if (ctl->client_fd >= 0)
        ctl_read(ctl);
    else
        ctl->client_fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
}

void db_control_destroy(db_control *ctl)
{
    if (!ctl)
        return;
    if (ctl->client_fd >= 0)
        close(ctl->client_fd);
    if (ctl->listen_fd >= 0)
        close(ctl->listen_fd);
    free(ctl);
}
