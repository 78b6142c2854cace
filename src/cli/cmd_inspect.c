/* cmd_inspect.c — `kaiyuan inspect MODEL [--json]`: a GGUF file's metadata and tensor table
 * (layer: cli; uses kaiyuan.h only).
 *
 * Human output: file facts, architecture hyper-parameters, tokenizer summary, chat template
 * presence, every metadata pair (long strings shortened, arrays summarized), bytes per tensor type
 * and an aligned tensor table. --json: exactly one object {file, file_bytes, version, alignment,
 * data_offset, architecture, metadata, tensors}. A file that fails validation prints the reader's
 * message on stderr, nothing on stdout, and exits 1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan inspect MODEL.gguf [--json]\n"
               "  Shows the GGUF header, metadata and tensors; --json prints one JSON object.\n");
}

/* Shortest decimal form of v that reads back to the same f32 (or f64) value: 1e-06, 10000, 0.1.
 * Integral values below 1e15 print without an exponent. */
static void format_float(char buf[40], double v, bool is_f32) {
    if (isnan(v)) {
        snprintf(buf, 40, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, 40, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, 40, "%.0f", v);
        if (v == 0 && signbit(v)) snprintf(buf, 40, "-0");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_f32 ? (float)back == (float)v : back == v) return;
    }
}

/* Appends a scalar value (any non-array type) as JSON. */
static void json_scalar(ky_strbuf *sb, const ky_gguf_value *v) {
    char num[40];
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
        if (!isfinite(v->v.f64)) {
            ky_strbuf_puts(sb, "null"); /* JSON has no NaN/Inf */
        } else {
            format_float(num, v->v.f64, v->type == KY_GGUF_F32);
            ky_strbuf_puts(sb, num);
        }
        break;
    case KY_GGUF_BOOL: ky_strbuf_puts(sb, v->v.u64 ? "true" : "false"); break;
    case KY_GGUF_STRING: ky_strbuf_json_string(sb, v->v.str.ptr, (size_t)v->v.str.len); break;
    default: ky_strbuf_puts(sb, "null"); break;
    }
}

/* Appends a name from the file with control bytes shown as '?' (no terminal escapes). */
static void put_name(ky_strbuf *sb, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F) {
            ky_strbuf_puts(sb, "??");
            i++;
        } else {
            char ch = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
            ky_strbuf_append(sb, &ch, 1);
        }
    }
}

/* Short human rendering of a value (strings cut at 60 bytes, arrays summarized). */
static void human_value(ky_strbuf *sb, const ky_gguf *g, int64_t kv, const ky_gguf_value *v) {
    char num[40];
    if (v->type == KY_GGUF_ARRAY) {
        ky_strbuf_printf(sb, "[%s × %" PRIu64 "]", ky_gguf_type_name(v->v.arr.elem_type),
                         v->v.arr.n);
        uint64_t shown = v->v.arr.n < 4 ? v->v.arr.n : 4;
        for (uint64_t i = 0; i < shown; i++) {
            ky_gguf_value e;
            if (ky_gguf_array_get(g, kv, i, &e) != KY_OK) break;
            ky_strbuf_puts(sb, i ? ", " : " ");
            if (e.type == KY_GGUF_ARRAY) {
                ky_strbuf_printf(sb, "[%s × %" PRIu64 "]", ky_gguf_type_name(e.v.arr.elem_type),
                                 e.v.arr.n);
            } else if (e.type == KY_GGUF_STRING && e.v.str.len > 24) {
                ky_strbuf_json_string(sb, e.v.str.ptr, 24);
                ky_strbuf_puts(sb, "…");
            } else if (e.type == KY_GGUF_F32 || e.type == KY_GGUF_F64) {
                format_float(num, e.v.f64, e.type == KY_GGUF_F32);
                ky_strbuf_puts(sb, num);
            } else {
                json_scalar(sb, &e);
            }
        }
        if (shown < v->v.arr.n) ky_strbuf_puts(sb, ", ...");
        return;
    }
    if (v->type == KY_GGUF_STRING && v->v.str.len > 60) {
        ky_strbuf_json_string(sb, v->v.str.ptr, 60);
        ky_strbuf_printf(sb, "… (%" PRIu64 " bytes)", v->v.str.len);
        return;
    }
    if (v->type == KY_GGUF_F32 || v->type == KY_GGUF_F64) {
        format_float(num, v->v.f64, v->type == KY_GGUF_F32);
        ky_strbuf_puts(sb, num);
        return;
    }
    json_scalar(sb, v);
}

/* general.architecture as a NUL-terminated, sanitized copy (NULL when absent or not a string). */
static const char *arch_of(const ky_gguf *g, char buf[64]) {
    int64_t i = ky_gguf_find_key(g, "general.architecture");
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    if (i < 0 || v.type != KY_GGUF_STRING) return NULL;
    size_t n = v.v.str.len < 63 ? (size_t)v.v.str.len : 63;
    memcpy(buf, v.v.str.ptr, n);
    buf[n] = '\0';
    return buf;
}

/* llama.cpp's llama_ftype names for general.file_type. */
static const char *file_type_name(uint64_t ft) {
    static const char *names[] = {
        [0] = "all F32", [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",    [9] = "Q5_1",    [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",   [25] = "IQ4_NL", [30] = "IQ4_XS", [32] = "BF16",
    };
    return ft < sizeof names / sizeof names[0] ? names[ft] : NULL;
}

static int print_json(const ky_gguf *g, const char *path) {
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    char abuf[64];
    const char *arch = arch_of(g, abuf);
    ky_strbuf_puts(&sb, "{\"file\": ");
    ky_strbuf_json_string(&sb, path, strlen(path));
    ky_strbuf_printf(&sb,
                     ", \"file_bytes\": %" PRIu64 ", \"version\": %" PRIu32
                     ", \"alignment\": %" PRIu64 ", \"data_offset\": %" PRIu64
                     ", \"n_kv\": %" PRId64 ", \"n_tensors\": %" PRId64 ", \"architecture\": ",
                     ky_gguf_file_size(g), ky_gguf_version(g), ky_gguf_alignment(g),
                     ky_gguf_data_offset(g), ky_gguf_n_kv(g), ky_gguf_n_tensors(g));
    if (arch)
        ky_strbuf_json_string(&sb, arch, strlen(arch));
    else
        ky_strbuf_puts(&sb, "null");
    ky_strbuf_puts(&sb, ",\n \"metadata\": {");
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *key = ky_gguf_kv_key(g, i);
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        ky_strbuf_puts(&sb, i ? ",\n  " : "\n  ");
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
    ky_strbuf_puts(&sb, "},\n \"tensors\": [");
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t) != KY_OK) continue;
        ky_strbuf_puts(&sb, i ? ",\n  " : "\n  ");
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
    if (!strcmp(key, "general.file_type") && v.type == KY_GGUF_U32 && file_type_name(v.v.u64))
        ky_strbuf_printf(&sb, " (%s)", file_type_name(v.v.u64));
    printf("  %-22s %s\n", label, sb.data ? sb.data : "");
    ky_strbuf_free(&sb);
}

/* Columns a UTF-8 string takes (counts code points; enough for names and "×"). */
static size_t columns(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Prints s left-aligned in a column of width w (UTF-8 aware). */
static void print_padded(const char *s, size_t w) {
    size_t c = columns(s, strlen(s));
    fputs(s, stdout);
    for (; c < w; c++) putchar(' ');
}

static void print_header(const ky_gguf *g, const char *path, const char *arch) {
    char b1[32];
    printf("file        %s (%s)\n", path, cli_human_bytes(ky_gguf_file_size(g), b1));
    printf("format      GGUF v%" PRIu32 ", alignment %" PRIu64 ", data at byte %" PRIu64
           ", %" PRId64 " metadata pairs, %" PRId64 " tensors\n",
           ky_gguf_version(g), ky_gguf_alignment(g), ky_gguf_data_offset(g), ky_gguf_n_kv(g),
           ky_gguf_n_tensors(g));
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    if (arch) put_name(&sb, arch, strlen(arch));
    printf("arch        %s\n", arch ? sb.data : "(none)");
    ky_strbuf_free(&sb);
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
        printf("chat template present (%s)\n", cli_human_bytes(ctv.v.str.len, b1));
    else
        printf("chat template absent\n");
}

static void print_metadata(const ky_gguf *g) {
    printf("metadata\n");
    size_t key_w = 0;
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *k = ky_gguf_kv_key(g, i);
        size_t l = columns(k, strlen(k));
        if (l > key_w) key_w = l;
    }
    if (key_w > 48) key_w = 48;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        const char *k = ky_gguf_kv_key(g, i);
        ky_strbuf_reset(&sb);
        put_name(&sb, k, strlen(k));
        printf("  ");
        print_padded(sb.data ? sb.data : "", key_w);
        ky_strbuf_reset(&sb);
        human_value(&sb, g, i, &v);
        printf(" %-6s %s\n", ky_gguf_type_name(v.type), sb.data ? sb.data : "");
    }
    ky_strbuf_free(&sb);
}

static void print_tensors(const ky_gguf *g) {
    char b1[32];
    int64_t n = ky_gguf_n_tensors(g);
    /* bytes and count per type, in type-id order */
    uint64_t type_bytes[KY_TYPE_COUNT] = {0}, type_count[KY_TYPE_COUNT] = {0}, total = 0;
    size_t name_w = 4, shape_w = 5, type_w = 4;
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t)) continue;
        size_t c = columns(t.name, t.name_len);
        if (c > name_w) name_w = c;
        if (t.type < KY_TYPE_COUNT) {
            type_bytes[t.type] += t.n_bytes;
            type_count[t.type]++;
        }
        const char *tn = ky_type_name(t.type);
        if (tn && strlen(tn) > type_w) type_w = strlen(tn);
        size_t sw = 0;
        for (uint32_t d = 0; d < t.n_dims; d++)
            sw += (size_t)snprintf(NULL, 0, "%" PRId64, t.ne[d]) + (d ? 3 : 0);
        if (sw > shape_w) shape_w = sw;
        total += t.n_bytes;
    }
    if (name_w > 64) name_w = 64;
    printf("tensor types\n");
    for (uint32_t ty = 0; ty < KY_TYPE_COUNT; ty++)
        if (type_count[ty])
            printf("  %-*s %5" PRIu64 " tensors %12s\n", (int)type_w, ky_type_name(ty),
                   type_count[ty], cli_human_bytes(type_bytes[ty], b1));
    printf("tensors\n  ");
    print_padded("name", name_w);
    printf("  ");
    print_padded("type", type_w);
    printf("  ");
    print_padded("shape", shape_w);
    printf(" %12s %12s\n", "offset", "bytes");
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t)) continue;
        ky_strbuf_reset(&sb);
        put_name(&sb, t.name, t.name_len);
        printf("  ");
        print_padded(sb.data ? sb.data : "", name_w);
        const char *tn = ky_type_name(t.type);
        printf("  ");
        print_padded(tn ? tn : "?", type_w);
        ky_strbuf_reset(&sb);
        for (uint32_t d = 0; d < t.n_dims; d++)
            ky_strbuf_printf(&sb, "%s%" PRId64, d ? " × " : "", t.ne[d]);
        printf("  ");
        print_padded(sb.data ? sb.data : "", shape_w);
        printf(" %12" PRIu64 " %12s\n", t.offset, cli_human_bytes(t.n_bytes, b1));
    }
    ky_strbuf_free(&sb);
    printf("  total %s in %" PRId64 " tensors\n", cli_human_bytes(total, b1), n);
}

static int print_human(const ky_gguf *g, const char *path) {
    char abuf[64];
    const char *arch = arch_of(g, abuf);
    print_header(g, path, arch);
    print_metadata(g);
    print_tensors(g);
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
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kaiyuan inspect: cannot write the output\n");
        rc = 1;
    }
    return rc;
}
