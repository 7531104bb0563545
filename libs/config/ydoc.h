/*
 * ydoc: a YAML document loaded with libyaml, kept with the line of every
 * node, so the config and plant loaders can name "FILE:LINE" in errors.
 *
 * Only the first document of a stream is read. Anchors and aliases are
 * resolved by libyaml. Nodes are libyaml's own (yaml_node_t); walk mappings
 * with YDOC_FOREACH_PAIR and look nodes up with ydoc_node().
 */
#ifndef EMS_CONFIG_YDOC_H
#define EMS_CONFIG_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

typedef struct ydoc {
    yaml_document_t doc;
    bool loaded;
    char name[256]; /* file name used in messages */
} ydoc_t;

/* Parses the file at path. Returns 0, or -1 with errstr
 * "FILE:LINE: reason" (libyaml's problem and context) or "FILE: cannot open
 * (...)". On success the caller calls ydoc_release(). */
int ydoc_load_file(ydoc_t *d, const char *path, char *errstr, size_t errstr_size);
/* Same for len bytes of text; name stands for the file in messages. */
int ydoc_load_string(ydoc_t *d, const char *name, const char *text, size_t len,
                     char *errstr, size_t errstr_size);
/* Frees the document. Safe on a zeroed or already released ydoc_t. */
void ydoc_release(ydoc_t *d);

/* The root node, or NULL for an empty document. */
yaml_node_t *ydoc_root(ydoc_t *d);
/* Node by id (from a pair or a sequence item), or NULL. */
yaml_node_t *ydoc_node(ydoc_t *d, int id);
/* 1-based line where the node starts. */
int ydoc_line(const yaml_node_t *n);
/* The scalar's text (NUL-terminated, owned by the document), or NULL when
 * n is not a scalar. */
const char *ydoc_scalar(const yaml_node_t *n);
/* True for a plain scalar "", "~", "null" or "Null"/"NULL". */
bool ydoc_is_null(const yaml_node_t *n);
/* The value node of key in mapping n, or NULL (also when n is no mapping). */
yaml_node_t *ydoc_get(ydoc_t *d, const yaml_node_t *n, const char *key);

/* NOLINTBEGIN(bugprone-macro-parentheses): p and it name the loop variable
 * the macro declares, a declarator and not an expression */
#define YDOC_FOREACH_PAIR(p, map)                                                      \
    for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start;                        \
         p < (map)->data.mapping.pairs.top; p++)
#define YDOC_FOREACH_ITEM(it, seq)                                                     \
    for (yaml_node_item_t *it = (seq)->data.sequence.items.start;                      \
         it < (seq)->data.sequence.items.top; it++)
/* NOLINTEND(bugprone-macro-parentheses) */

#endif
