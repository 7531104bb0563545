/*
 * audit-verify: reads ECS audit lines (as written by the services on stdout)
 * from stdin and checks every producer's hash chain.
 *
 *   audit-verify < audit.ndjson
 *
 * Exit 0 when every link holds; exit 1 naming the first broken line (edited,
 * deleted or reordered event, or a line that is not an audit event); exit 2
 * on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr,
                "usage: %s < ecs-lines\n"
                "Verifies the hash chains of ECS audit lines read from stdin.\n",
                argv[0]);
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    audit_verifier_t *v = audit_verifier_new();
    char *line = NULL, err[512];
    size_t cap = 0, lineno = 0, events = 0;
    int rc = 0;
    while (v && getline(&line, &cap, stdin) > 0) {
        lineno++;
        int r = audit_verifier_feed(v, line, err, sizeof err);
        if (r < 0) {
            printf("line %zu: broken: %s\n", lineno, err);
            rc = 1;
            break;
        }
        events += r == 0;
    }
    if (!v) {
        fprintf(stderr, "audit-verify: out of memory\n");
        rc = 2;
    } else if (rc == 0) {
        printf("ok: %zu events, every chain intact\n", events);
    }
    free(line);
    audit_verifier_destroy(v);
    return rc;
}
