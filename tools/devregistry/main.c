/*
 * devregistry: a development schema registry.
 *
 * Speaks the subset of the Confluent Schema Registry REST API the suite uses
 * (register a version, look a schema up by id or by subject and version,
 * BACKWARD compatibility check, compatibility level) over HTTP on loopback,
 * and keeps its data in one JSON file. Development and tests only:
 * production uses a real Confluent-compatible registry.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <ulfius.h>

#include "file/file.h"
#include "store.h"

#define DR_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

typedef struct {
    int port;
    const char *host;
    const char *store;
    const char *pidfile;
} dr_opts;

static volatile sig_atomic_t dr_stop;

static void dr_on_signal(int sig)
{
    (void)sig;
    dr_stop = 1;
}

/* One JSON log line on stderr; the message is escaped by jansson. */
static void dr_log(const char *level, const char *fmt, ...)
{
    char msg[768], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;
    json_t *line;
    char *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    line = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", level, "service",
                     "devregistry", "msg", msg);
    text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

/* Sends body (a reference this function takes) with the given status. */
static int dr_reply(const struct _u_request *req, struct _u_response *resp, int status,
                    json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    if (!text) {
        status = 500;
        text = strdup("{\"error_code\":50001,\"message\":\"out of memory\"}");
    }
    ulfius_set_string_body_response(resp, (unsigned)status, text);
    u_map_put(resp->map_header, "Content-Type", DR_CONTENT_TYPE);
    if (status >= 400)
        dr_log("info", "%s %s -> %d", req->http_verb, req->url_path, status);
    free(text);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* The request body as JSON (either content type is accepted), or NULL. */
static json_t *dr_body(const struct _u_request *req)
{
    json_error_t err;

    if (!req->binary_body || req->binary_body_length == 0)
        return NULL;
    return json_loadb(req->binary_body, req->binary_body_length, 0, &err);
}

static int dr_bad_body(const struct _u_request *req, struct _u_response *resp)
{
    return dr_reply(req, resp, 422,
                    json_pack("{s:i,s:s}", "error_code", 42201, "message",
                              "request body is not a JSON object"));
}

static const char *dr_param(const struct _u_request *req, const char *name)
{
    const char *v = u_map_get(req->map_url, name);
    return v ? v : "";
}

static int dr_register(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *in = dr_body(req), *out = NULL;
    int status;

    if (!json_is_object(in)) {
        json_decref(in);
        return dr_bad_body(req, resp);
    }
    status = reg_store_register(ud, dr_param(req, "subject"), in, &out);
    json_decref(in);
    if (status == 200)
        dr_log("info", "registered '%s' as id %lld", dr_param(req, "subject"),
               (long long)json_integer_value(json_object_get(out, "id")));
    return dr_reply(req, resp, status, out);
}

static int dr_lookup(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *in = dr_body(req), *out = NULL;
    int status;

    if (!json_is_object(in)) {
        json_decref(in);
        return dr_bad_body(req, resp);
    }
    status = reg_store_lookup(ud, dr_param(req, "subject"), in, &out);
    json_decref(in);
    return dr_reply(req, resp, status, out);
}

static int dr_compat(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *in = dr_body(req), *out = NULL;
    int status;

    if (!json_is_object(in)) {
        json_decref(in);
        return dr_bad_body(req, resp);
    }
    status = reg_store_compat(ud, dr_param(req, "subject"), dr_param(req, "version"),
                              in, &out);
    json_decref(in);
    return dr_reply(req, resp, status, out);
}

static int dr_schema(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *out = NULL;
    int status = reg_store_schema(ud, dr_param(req, "id"), &out);
    return dr_reply(req, resp, status, out);
}

static int dr_subjects(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *out = NULL;
    int status = reg_store_subjects(ud, &out);
    return dr_reply(req, resp, status, out);
}

static int dr_versions(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *out = NULL;
    int status = reg_store_versions(ud, dr_param(req, "subject"), &out);
    return dr_reply(req, resp, status, out);
}

static int dr_version(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    json_t *out = NULL;
    int status =
        reg_store_version(ud, dr_param(req, "subject"), dr_param(req, "version"), &out);
    return dr_reply(req, resp, status, out);
}

static int dr_get_config(const struct _u_request *req, struct _u_response *resp,
                         void *ud)
{
    const char *subject = u_map_get(req->map_url, "subject");
    json_t *out = NULL;
    int status = reg_store_get_config(ud, subject, &out);
    return dr_reply(req, resp, status, out);
}

static int dr_set_config(const struct _u_request *req, struct _u_response *resp,
                         void *ud)
{
    const char *subject = u_map_get(req->map_url, "subject");
    json_t *in = dr_body(req), *out = NULL;
    int status;

    if (!json_is_object(in)) {
        json_decref(in);
        return dr_bad_body(req, resp);
    }
    status = reg_store_set_config(ud, subject, in, &out);
    json_decref(in);
    return dr_reply(req, resp, status, out);
}

static int dr_not_found(const struct _u_request *req, struct _u_response *resp,
                        void *ud)
{
    (void)ud;
    return dr_reply(
        req, resp, 404,
        json_pack("{s:i,s:s}", "error_code", 404, "message", "HTTP 404 Not Found"));
}

static const struct {
    const char *method, *prefix, *format;
    int (*cb)(const struct _u_request *, struct _u_response *, void *);
} dr_routes[] = {
    {"GET", "/subjects", "", dr_subjects},
    {"POST", "/subjects", "/:subject", dr_lookup},
    {"POST", "/subjects", "/:subject/versions", dr_register},
    {"GET", "/subjects", "/:subject/versions", dr_versions},
    {"GET", "/subjects", "/:subject/versions/:version", dr_version},
    {"GET", "/schemas", "/ids/:id", dr_schema},
    {"POST", "/compatibility", "/subjects/:subject/versions/:version", dr_compat},
    {"GET", "/config", "", dr_get_config},
    {"PUT", "/config", "", dr_set_config},
    {"GET", "/config", "/:subject", dr_get_config},
    {"PUT", "/config", "/:subject", dr_set_config},
};

static int dr_add_routes(struct _u_instance *inst, reg_store *st)
{
    for (size_t i = 0; i < sizeof(dr_routes) / sizeof(*dr_routes); i++)
        if (ulfius_add_endpoint_by_val(inst, dr_routes[i].method, dr_routes[i].prefix,
                                       dr_routes[i].format, 0, dr_routes[i].cb,
                                       st) != U_OK)
            return -1;
    return ulfius_set_default_endpoint(inst, dr_not_found, NULL) == U_OK ? 0 : -1;
}

static void dr_usage(FILE *out)
{
    fputs("usage: devregistry [--port N] [--host ADDR] [--store FILE]\n"
          "                   [--pidfile FILE]\n"
          "  --port N        HTTP port (default 18081)\n"
          "  --host ADDR     IPv4 address to listen on (default 127.0.0.1)\n"
          "  --store FILE    JSON file holding the data "
          "(default var/registry.json)\n"
          "  --pidfile FILE  write the process id here once listening\n",
          out);
}

static int dr_parse_args(dr_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"store", required_argument, NULL, 's'},
                                             {"pidfile", required_argument, NULL, 'P'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    char *end;
    long v;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 1 || v > 65535) {
                dr_log("error", "invalid --port '%s'", optarg);
                return -1;
            }
            o->port = (int)v;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 's':
            o->store = optarg;
            break;
        case 'P':
            o->pidfile = optarg;
            break;
        case 'h':
            dr_usage(stdout);
            exit(0);
        default:
            dr_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        dr_log("error", "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

static int dr_write_pidfile(const char *path)
{
    char pid[32], err[4200];

    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ems_file_write_atomic(path, pid, err, sizeof(err)) != 0) {
        dr_log("error", "cannot write pidfile '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void dr_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = dr_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    dr_opts o = {18081, "127.0.0.1", "var/registry.json", NULL};
    struct _u_instance inst;
    struct sockaddr_in addr;
    struct timespec nap = {0, 100 * 1000 * 1000};
    reg_store *st = NULL;
    char err[512];
    int rc = 1, inited = 0, started = 0;

    if (dr_parse_args(&o, argc, argv) != 0)
        return 1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o.port);
    if (inet_pton(AF_INET, o.host, &addr.sin_addr) != 1) {
        dr_log("error", "invalid --host '%s'", o.host);
        return 1;
    }
    if (!(st = reg_store_open(o.store, err, sizeof(err)))) {
        dr_log("error", "%s", err);
        return 1;
    }
    dr_install_signals();
    if (ulfius_init_instance(&inst, (unsigned)o.port, &addr, NULL) != U_OK) {
        dr_log("error", "cannot initialise the HTTP server");
        goto cleanup;
    }
    inited = 1;
    if (dr_add_routes(&inst, st) != 0) {
        dr_log("error", "cannot add routes");
        goto cleanup;
    }
    if (ulfius_start_framework(&inst) != U_OK) {
        dr_log("error", "cannot listen on %s:%d (port in use?)", o.host, o.port);
        goto cleanup;
    }
    started = 1;
    if (o.pidfile && dr_write_pidfile(o.pidfile) != 0)
        goto cleanup;
    dr_log("info", "listening on http://%s:%d, store '%s'", o.host, o.port, o.store);
    while (!dr_stop)
        nanosleep(&nap, NULL);
    dr_log("info", "stopping");
    rc = 0;
cleanup:
    if (started)
        ulfius_stop_framework(&inst);
    if (inited)
        ulfius_clean_instance(&inst);
    if (started && o.pidfile)
        unlink(o.pidfile);
    reg_store_destroy(st);
    return rc;
}
