/* cmd_inspect.c — `kaiyuan inspect MODEL [--json]`: a GGUF file's metadata and tensor table
 * (layer: cli; uses kaiyuan.h only).
 *
 * Human output: file facts, architecture hyper-parameters, tokenizer summary, chat template
 * presence, every metadata pair (long strings shortened, arrays summarized) and an aligned tensor
 * table. --json: one object {file, version, alignment, architecture, metadata, tensors}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan inspect MODEL.gguf [--json]\n"
               "  Shows the GGUF header, metadata and tensors; --json prints one JSON object.\n");
}

/* Appends a scalar value (any non-array type) as JSON. */
static void json_scalar(ky_strbuf *sb, const ky_gguf_value *v) {
    switch (v->type) {
    case KY_GGUF_U8:
    case KY_GGUF_U16:
    case KY_GGUF_U32:
    case KY_GGUF_U64: ky_strbuf_printf(sb, "%" PRIu64, v->v.u64); break;
    case KY_GGUF_I8:
    case KY_GGUF_I16:
    case KY_GGUF_I32:
    case KY_GGUF_I64: ky_strbuf_printf(sb, "%" PRId64, v->v.i64); break;
    case KY_GGUF_F32:
    case KY_GGUF_F64:
        if (v->v.f64 != v->v.f64 || v->v.f64 > 1e308 || v->v.f64 < -1e308) {
            ky_strbuf_puts(sb, "null"); /* JSON has no NaN/Inf */
        } else {
            ky_strbuf_printf(sb, "%.9g", v->v.f64);
        }
        break;
    case KY_GGUF_BOOL: ky_strbuf_puts(sb, v->v.u64 ? "true" : "false"); break;
    case KY_GGUF_STRING: ky_strbuf_json_string(sb, v->v.str.ptr, (size_t)v->v.str.len); break;
    default: ky_strbuf_puts(sb, "null"); break;
    }
}

/* Short human rendering of a value into sb (strings cut at 60 bytes, arrays summarized). */
static void human_value(ky_strbuf *sb, const ky_gguf *g, int64_t kv, const ky_gguf_value *v) {
    if (v->type == KY_GGUF_ARRAY) {
        ky_strbuf_printf(sb, "[%s × %" PRIu64 "]", ky_gguf_type_name(v->v.arr.elem_type),
                         v->v.arr.n);
        /* show the first few small elements */
        if (v->v.arr.elem_type != KY_GGUF_ARRAY && v->v.arr.n > 0) {
            ky_strbuf_puts(sb, " ");
            uint64_t shown = v->v.arr.n < 4 ? v->v.arr.n : 4;
            for (uint64_t i = 0; i < shown; i++) {
                ky_gguf_value e;
                if (ky_gguf_array_get(g, kv, i, &e) != KY_OK) break;
                if (i) ky_strbuf_puts(sb, ", ");
                if (e.type == KY_GGUF_STRING && e.v.str.len > 24) {
                    ky_strbuf_json_string(sb, e.v.str.ptr, 24);
                    ky_strbuf_puts(sb, "…");
                } else {
                    json_scalar(sb, &e);
                }
            }
            if (shown < v->v.arr.n) ky_strbuf_puts(sb, ", ...");
        }
        return;
    }
    if (v->type == KY_GGUF_STRING && v->v.str.len > 60) {
        ky_strbuf_json_string(sb, v->v.str.ptr, 60);
        ky_strbuf_printf(sb, "… (%" PRIu64 " bytes)", v->v.str.len);
        return;
    }
    json_scalar(sb, v);
}

static const char *arch_of(const ky_gguf *g, char buf[64]) {
    int64_t i = ky_gguf_find_key(g, "general.architecture");
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    if (i < 0 || v.type != KY_GGUF_STRING) return NULL;
    size_t n = v.v.str.len < 63 ? (size_t)v.v.str.len : 63;
    memcpy(buf, v.v.str.ptr, n);
    buf[n] = '\0';
    return buf;
}

static void shape_string(const ky_gguf_tensor_info *t, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, d ? " × " : "", t->ne[d]);
}

static int print_json(const ky_gguf *g, const char *path) {
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    char abuf[64];
    const char *arch = arch_of(g, abuf);
    ky_strbuf_puts(&sb, "{\"file\": ");
    ky_strbuf_json_string(&sb, path, strlen(path));
    ky_strbuf_printf(
        &sb,
        ", \"file_bytes\": %" PRIu64 ", \"version\": %" PRIu32 ", \"alignment\": %" PRIu64
        ", \"data_offset\": %" PRIu64 ", \"architecture\": ",
        ky_gguf_file_size(g), ky_gguf_version(g), ky_gguf_alignment(g), ky_gguf_data_offset(g));
    if (arch)
        ky_strbuf_json_string(&sb, arch, strlen(arch));
    else
        ky_strbuf_puts(&sb, "null");
    ky_strbuf_puts(&sb, ", \"metadata\": {");
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *key = ky_gguf_kv_key(g, i);
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        if (i) ky_strbuf_puts(&sb, ", ");
        ky_strbuf_json_string(&sb, key, strlen(key));
        ky_strbuf_puts(&sb, ": ");
        if (v.type == KY_GGUF_ARRAY) {
            ky_strbuf_printf(
                &sb, "{\"type\": \"array\", \"element_type\": \"%s\", \"length\": %" PRIu64 "}",
                ky_gguf_type_name(v.v.arr.elem_type), v.v.arr.n);
        } else {
            json_scalar(&sb, &v);
        }
    }
    ky_strbuf_puts(&sb, "}, \"tensors\": [");
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t) != KY_OK) continue;
        if (i) ky_strbuf_puts(&sb, ", ");
        ky_strbuf_puts(&sb, "{\"name\": ");
        ky_strbuf_json_string(&sb, t.name, t.name_len);
        const char *tn = ky_type_name(t.type);
        ky_strbuf_printf(&sb, ", \"type\": \"%s\", \"shape\": [", tn ? tn : "?");
        for (uint32_t d = 0; d < t.n_dims; d++)
            ky_strbuf_printf(&sb, "%s%" PRId64, d ? ", " : "", t.ne[d]);
        ky_strbuf_printf(&sb, "], \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", t.offset,
                         t.n_bytes);
    }
    ky_strbuf_puts(&sb, "]}\n");
    if (sb.failed) {
        fprintf(stderr, "kaiyuan inspect: out of memory\n");
        ky_strbuf_free(&sb);
        return 1;
    }
    fwrite(sb.data, 1, sb.len, stdout);
    ky_strbuf_free(&sb);
    return 0;
}

/* Prints "  label  value" for a key when present. */
static void human_key(const ky_gguf *g, const char *label, const char *key) {
    int64_t i = ky_gguf_find_key(g, key);
    if (i < 0) return;
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    human_value(&sb, g, i, &v);
    printf("  %-22s %s\n", label, sb.data ? sb.data : "");
    ky_strbuf_free(&sb);
}

static int print_human(const ky_gguf *g, const char *path) {
    char b1[32], b2[32], abuf[64];
    const char *arch = arch_of(g, abuf);
    printf("file        %s (%s)\n", path, cli_human_bytes(ky_gguf_file_size(g), b1));
    printf("format      GGUF v%" PRIu32 ", alignment %" PRIu64 ", %" PRId64
           " metadata pairs, %" PRId64 " tensors\n",
           ky_gguf_version(g), ky_gguf_alignment(g), ky_gguf_n_kv(g), ky_gguf_n_tensors(g));
    printf("arch        %s\n", arch ? arch : "(none)");
    human_key(g, "name", "general.name");
    human_key(g, "file type", "general.file_type");
    if (arch) {
        static const struct {
            const char *label, *suffix;
        } hp[] = {
            {"context length", "context_length"},
            {"embedding", "embedding_length"},
            {"layers", "block_count"},
            {"feed-forward", "feed_forward_length"},
            {"heads", "attention.head_count"},
            {"kv heads", "attention.head_count_kv"},
            {"key length", "attention.key_length"},
            {"value length", "attention.value_length"},
            {"rms eps", "attention.layer_norm_rms_epsilon"},
            {"rope base", "rope.freq_base"},
            {"rope dims", "rope.dimension_count"},
            {"experts", "expert_count"},
            {"experts used", "expert_used_count"},
            {"expert ff", "expert_feed_forward_length"},
        };
        printf("hyper-parameters\n");
        for (size_t k = 0; k < sizeof hp / sizeof hp[0]; k++) {
            char key[160];
            snprintf(key, sizeof key, "%s.%s", arch, hp[k].suffix);
            human_key(g, hp[k].label, key);
        }
    }
    printf("tokenizer\n");
    human_key(g, "model", "tokenizer.ggml.model");
    human_key(g, "pre-tokenizer", "tokenizer.ggml.pre");
    human_key(g, "tokens", "tokenizer.ggml.tokens");
    human_key(g, "merges", "tokenizer.ggml.merges");
    human_key(g, "bos id", "tokenizer.ggml.bos_token_id");
    human_key(g, "eos id", "tokenizer.ggml.eos_token_id");
    human_key(g, "add bos", "tokenizer.ggml.add_bos_token");
    int64_t ct = ky_gguf_find_key(g, "tokenizer.chat_template");
    ky_gguf_value ctv = ky_gguf_kv_value(g, ct);
    if (ct >= 0 && ctv.type == KY_GGUF_STRING)
        printf("chat template present (%" PRIu64 " bytes)\n", ctv.v.str.len);
    else
        printf("chat template absent\n");

    printf("metadata\n");
    size_t key_w = 0;
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        size_t l = strlen(ky_gguf_kv_key(g, i));
        if (l > key_w) key_w = l;
    }
    if (key_w > 48) key_w = 48;
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        human_value(&sb, g, i, &v);
        printf("  %-*s %-6s %s\n", (int)key_w, ky_gguf_kv_key(g, i), ky_gguf_type_name(v.type),
               sb.data ? sb.data : "");
        ky_strbuf_free(&sb);
    }

    int64_t n = ky_gguf_n_tensors(g);
    size_t name_w = 4;
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (!ky_gguf_tensor(g, i, &t) && t.name_len > name_w) name_w = t.name_len;
    }
    if (name_w > 60) name_w = 60;
    printf("tensors\n  %-*s  %-5s  %-24s %12s\n", (int)name_w, "name", "type", "shape", "bytes");
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t)) continue;
        char shape[96];
        shape_string(&t, shape, sizeof shape);
        const char *tn = ky_type_name(t.type);
        /* "×" is 2 bytes but 1 column: pad by hand so columns stay aligned */
        int pad = 24;
        for (const char *p = shape; *p; p++)
            if ((unsigned char)*p == 0xC3 && (unsigned char)p[1] == 0x97) pad++;
        printf("  %-*.*s  %-5s  %-*s %12s\n", (int)name_w, (int)t.name_len, t.name, tn ? tn : "?",
               pad, shape, cli_human_bytes(t.n_bytes, b2));
        total += t.n_bytes;
    }
    printf("  total %s in %" PRId64 " tensors\n", cli_human_bytes(total, b1), n);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "kaiyuan inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "kaiyuan inspect: more than one file given\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    ky_gguf *g;
    ky_error err;
    if (ky_gguf_open(path, &g, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan inspect: %s\n", err.message);
        return 1;
    }
    int rc = json ? print_json(g, path) : print_human(g, path);
    ky_gguf_close(g);
    return rc;
}
