/* schema.h — JSON Schema → GBNF text (layer: grammar; uses jansson).
 *
 * The compiler writes GBNF that gbnf.c parses: one rule per schema node, shared rules for JSON
 * scalars and whitespace (bounded: a newline plus at most KY_GRAMMAR_WS_MAX blanks), and the
 * any-JSON value bounded in depth. Unsupported keywords are errors naming the keyword and its
 * JSON pointer.
 */
#ifndef KY_GRAMMAR_SCHEMA_H
#define KY_GRAMMAR_SCHEMA_H

#include <jansson.h>

#include "base/strbuf.h"
#include "kaiyuan.h"

/* Appends a complete grammar (with `root`) for the schema in json[0..len) to out. Errors:
 * KY_ERR_FORMAT (not JSON, bad keyword values, unknown $ref), KY_ERR_UNSUPPORTED (a keyword or
 * combination outside the subset, named with its path), KY_ERR_NOMEM (out->failed). */
ky_status schema_to_gbnf(const char *json, size_t len, ky_strbuf *out, ky_error *err);

/* Appends the any-JSON-object grammar (root = an object) to out. */
void schema_json_object_gbnf(ky_strbuf *out);

/* Several schemas into one grammar (tool-call grammars). A context writes rules into out;
 * schema_ctx_add compiles one schema (its own root for $ref) and writes the name of its rule
 * (NUL-terminated, < 32 bytes) to name; schema_ctx_finish appends the shared rules and frees the
 * context (also after an error). Rule names are s<N>, j-* and ws; callers use other names. */
typedef struct schema_ctx schema_ctx;
schema_ctx *schema_ctx_new(ky_strbuf *out, ky_error *err);
ky_status schema_ctx_add(schema_ctx *c, json_t *schema, const char *path, char name[32]);
ky_status schema_ctx_finish(schema_ctx *c);

/* Appends s[0..n) as a GBNF string literal (quoted, escaped). */
void schema_gbnf_literal(ky_strbuf *sb, const char *s, size_t n);

#endif
