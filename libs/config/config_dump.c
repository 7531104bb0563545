/* config: the effective configuration as YAML (--dump-config) and option
 * tables as Markdown (docs). */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"

/* Writes s as a double-quoted YAML scalar. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void put_value(FILE *out, const cfg_entry_t *e, const char *indent)
{
    const void *f = (const char *)e->base + e->opt->offset;
    const char *s;
    switch (e->opt->type) {
    case CFG_STRING:
    case CFG_SECRET:
        s = *(const char *const *)f;
        if (!s)
            fputs("null", out);
        else if (e->opt->type == CFG_SECRET)
            fputs("\"***\"", out);
        else
            put_quoted(out, s);
        break;
    case CFG_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)f);
        break;
    case CFG_DURATION_MS:
        fprintf(out, "%" PRId64 "ms", *(const int64_t *)f);
        break;
    case CFG_DOUBLE:
        fprintf(out, "%.17g", *(const double *)f);
        break;
    case CFG_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case CFG_STRING_LIST: {
        const cfg_strlist_t *l = f;
        fputc('[', out);
        for (size_t i = 0; i < l->n; i++) {
            fputs(i ? ", " : "", out);
            put_quoted(out, l->items[i]);
        }
        fputc(']', out);
        break;
    }
    case CFG_STRING_MAP: {
        const cfg_strmap_t *m = f;
        if (!m->n)
            fputs("{}", out);
        for (size_t i = 0; i < m->n; i++) {
            fprintf(out, "\n%s  ", indent);
            put_quoted(out, m->kv[2 * i]);
            fputs(": ", out);
            if (cfg_key_is_sensitive(m->kv[2 * i]))
                fputs("\"***\"", out);
            else
                put_quoted(out, m->kv[2 * i + 1]);
        }
        break;
    }
    }
}

/* Keys of a pass-through map whose values are credentials: passwords and
 * secrets, private keys (ssl.key.pem, ssl.key.password) and librdkafka's
 * *.config strings (sasl.oauthbearer.config holds clientSecret=...). */
int cfg_key_is_sensitive(const char *k)
{
    size_t n = strlen(k);
    return strcasestr(k, "password") || strcasestr(k, "secret") ||
           strcasestr(k, ".key") || strcasestr(k, "token") ||
           (n >= 7 && !strcasecmp(k + n - 7, ".config"));
}

static void put_source(FILE *out, const cfg_entry_t *e)
{
    if (e->src == CFG_SRC_FILE)
        fprintf(out, "  # file:%d", e->line);
    else if (e->src == CFG_SRC_ENV)
        fprintf(out, "  # env %s", e->env);
    else
        fputs("  # default", out);
}

static void put_entry(FILE *out, const cfg_entry_t *e, const char *indent)
{
    fprintf(out, "%s%s:", indent, e->opt->key);
    const void *f = (const char *)e->base + e->opt->offset;
    if (e->opt->type == CFG_STRING_MAP && ((const cfg_strmap_t *)f)->n) {
        put_source(out, e); /* on the key's line, before the pairs */
        put_value(out, e, indent);
        fputc('\n', out);
        return;
    }
    fputc(' ', out);
    put_value(out, e, indent);
    put_source(out, e);
    fputc('\n', out);
}

int cfg_dump(const cfg_t *cfg, FILE *out)
{
    fprintf(out, "# effective configuration; file: %s\n",
            cfg->name[0] ? cfg->name : "(not loaded)");
    for (size_t i = 0; i < cfg->n; i++)
        if (!*cfg->e[i].opt->section)
            put_entry(out, &cfg->e[i], "");
    for (size_t i = 0; i < cfg->n; i++) {
        const char *sec = cfg->e[i].opt->section;
        bool first = *sec;
        for (size_t j = 0; first && j < i; j++)
            first = strcmp(cfg->e[j].opt->section, sec) != 0;
        if (!first)
            continue;
        fprintf(out, "%s:\n", sec);
        for (size_t j = i; j < cfg->n; j++)
            if (!strcmp(cfg->e[j].opt->section, sec))
                put_entry(out, &cfg->e[j], "  ");
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* Writes s for a Markdown table cell: '|' escaped, newlines as spaces. */
static void put_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '<')
            fputs("&lt;", out);
        else
            fputc(*s == '\n' ? ' ' : *s, out);
    }
}

int cfg_markdown(const cfg_option_t *table, FILE *out)
{
    char key[256], env[256];
    fputs("| key | type | default | range | description |\n", out);
    fputs("|---|---|---|---|---|\n", out);
    for (const cfg_option_t *o = table; o->key; o++) {
        full_key(o, key, sizeof key);
        fprintf(out, "| `%s` | %s | ", key, cfg_type_name(o->type));
        if (o->required)
            fputs("required", out);
        else if (o->def && *o->def)
            fprintf(out, "`%s`", o->def);
        else if (o->def)
            fputs("`\"\"`", out);
        else
            fputs("(none)", out);
        fputs(" | ", out);
        if (has_range(o))
            fprintf(out, "%g .. %g%s", o->min, o->max,
                    o->type == CFG_DURATION_MS ? " ms" : "");
        else if (o->choices)
            put_cell(out, o->choices);
        if (o->step > 0)
            fprintf(out, ", multiple of %g%s", o->step,
                    o->type == CFG_DURATION_MS ? " ms" : "");
        fputs(" | ", out);
        put_cell(out, o->desc);
        fprintf(out, " (`%s`) |\n", cfg_env_name(o->section, o->key, env, sizeof env));
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
