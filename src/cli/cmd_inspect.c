/* cmd_inspect.c — `kaiyuan inspect MODEL [--json]`: a GGUF file's metadata and tensor table
 * (layer: cli; uses kaiyuan.h only).
 *
 * Human output: file facts, architecture hyper-parameters, tokenizer summary, chat template
 * presence, every metadata pair (long strings shortened, arrays summarized), bytes per tensor type
 * and a tensor table. Every column's width comes from the data, so rows stay aligned whatever the
 * key and tensor name lengths. --json: exactly one object {file, file_bytes, version, alignment,
 * data_offset, architecture, metadata, tensors}. A file that fails validation prints the reader's
 * message on stderr, nothing on stdout, and exits 1. cli_inspect_file() is the whole command
 * minus argument parsing (the fuzz target tests/fuzz/fuzz_inspect.c calls it).
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

/* Appends a name from the file for a terminal: valid UTF-8 is kept, and every control character
 * (C0, DEL, C1) and every byte that is not part of a valid UTF-8 sequence becomes one '?', so
 * no escape sequence reaches the terminal and each code point of the result takes one column
 * (wide CJK characters aside). */
static void put_name(ky_strbuf *sb, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = ky_utf8_seq_len(s + i, n - i);
        bool control =
            c < 0x20 || c == 0x7F || (c == 0xC2 && len == 2 && (unsigned char)s[i + 1] < 0xA0);
        if (len == 0 || control) {
            ky_strbuf_append(sb, "?", 1);
            i += len ? len : 1;
        } else {
            ky_strbuf_append(sb, s + i, len);
            i += len;
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

/* general.architecture: the whole string as stored (any length, may hold NUL bytes; a view into
 * the file, not NUL-terminated). false when absent or not a string. */
static bool arch_of(const ky_gguf *g, const char **arch, size_t *len) {
    int64_t i = ky_gguf_find_key(g, "general.architecture");
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    if (i < 0 || v.type != KY_GGUF_STRING) return false;
    *arch = v.v.str.ptr;
    *len = (size_t)v.v.str.len;
    return true;
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

/* The --json object, built in memory and written at once (nothing is written on failure). */
static int print_json(const ky_gguf *g, const char *path, FILE *out, FILE *err) {
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    const char *arch;
    size_t arch_len;
    ky_strbuf_puts(&sb, "{\"file\": ");
    ky_strbuf_json_string(&sb, path, strlen(path));
    ky_strbuf_printf(&sb,
                     ", \"file_bytes\": %" PRIu64 ", \"version\": %" PRIu32
                     ", \"alignment\": %" PRIu64 ", \"data_offset\": %" PRIu64
                     ", \"n_kv\": %" PRId64 ", \"n_tensors\": %" PRId64 ", \"architecture\": ",
                     ky_gguf_file_size(g), ky_gguf_version(g), ky_gguf_alignment(g),
                     ky_gguf_data_offset(g), ky_gguf_n_kv(g), ky_gguf_n_tensors(g));
    if (arch_of(g, &arch, &arch_len))
        ky_strbuf_json_string(&sb, arch, arch_len);
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
        fprintf(err, "kaiyuan inspect: out of memory\n");
        ky_strbuf_free(&sb);
        return 1;
    }
    fwrite(sb.data, 1, sb.len, out);
    ky_strbuf_free(&sb);
    return 0;
}

/* Prints "  label  value" for a key when present. */
static void human_key(FILE *out, const ky_gguf *g, const char *label, const char *key) {
    int64_t i = ky_gguf_find_key(g, key);
    if (i < 0) return;
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    human_value(&sb, g, i, &v);
    if (!strcmp(key, "general.file_type") && v.type == KY_GGUF_U32 && file_type_name(v.v.u64))
        ky_strbuf_printf(&sb, " (%s)", file_type_name(v.v.u64));
    fprintf(out, "  %-22s %s\n", label, sb.data ? sb.data : "");
    ky_strbuf_free(&sb);
}

/* Columns a UTF-8 string takes (counts code points; exact for put_name output without wide
 * characters, and for "×"). */
static size_t columns(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Columns of a file name as put_name prints it. */
static size_t name_columns(const char *s, size_t n, ky_strbuf *scratch) {
    ky_strbuf_reset(scratch);
    put_name(scratch, s, n);
    return scratch->data ? columns(scratch->data, scratch->len) : 0;
}

/* Prints s left-aligned in a column of width w (UTF-8 aware). */
static void print_padded(FILE *out, const char *s, size_t w) {
    size_t c = columns(s, strlen(s));
    fputs(s, out);
    for (; c < w; c++) putc(' ', out);
}

static void print_header(FILE *out, const ky_gguf *g, const char *path) {
    char b1[32];
    fprintf(out, "file        %s (%s)\n", path, cli_human_bytes(ky_gguf_file_size(g), b1));
    fprintf(out,
            "format      GGUF v%" PRIu32 ", alignment %" PRIu64 ", data at byte %" PRIu64
            ", %" PRId64 " metadata pairs, %" PRId64 " tensors\n",
            ky_gguf_version(g), ky_gguf_alignment(g), ky_gguf_data_offset(g), ky_gguf_n_kv(g),
            ky_gguf_n_tensors(g));
    const char *arch;
    size_t arch_len;
    bool has_arch = arch_of(g, &arch, &arch_len);
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    if (has_arch) put_name(&sb, arch, arch_len);
    fprintf(out, "arch        %s\n", has_arch && sb.data ? sb.data : has_arch ? "" : "(none)");
    human_key(out, g, "name", "general.name");
    human_key(out, g, "file type", "general.file_type");
    if (has_arch) {
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
        fprintf(out, "hyper-parameters\n");
        /* keys never hold NUL bytes, so an architecture with one has no hyper-parameter keys */
        for (size_t k = 0; k < sizeof hp / sizeof hp[0] && !memchr(arch, '\0', arch_len); k++) {
            ky_strbuf_reset(&sb);
            ky_strbuf_append(&sb, arch, arch_len);
            ky_strbuf_printf(&sb, ".%s", hp[k].suffix);
            if (!sb.failed) human_key(out, g, hp[k].label, sb.data);
        }
    }
    ky_strbuf_free(&sb);
    fprintf(out, "tokenizer\n");
    human_key(out, g, "model", "tokenizer.ggml.model");
    human_key(out, g, "pre-tokenizer", "tokenizer.ggml.pre");
    human_key(out, g, "tokens", "tokenizer.ggml.tokens");
    human_key(out, g, "merges", "tokenizer.ggml.merges");
    human_key(out, g, "bos id", "tokenizer.ggml.bos_token_id");
    human_key(out, g, "eos id", "tokenizer.ggml.eos_token_id");
    human_key(out, g, "add bos", "tokenizer.ggml.add_bos_token");
    int64_t ct = ky_gguf_find_key(g, "tokenizer.chat_template");
    ky_gguf_value ctv = ky_gguf_kv_value(g, ct);
    if (ct >= 0 && ctv.type == KY_GGUF_STRING)
        fprintf(out, "chat template present (%s)\n", cli_human_bytes(ctv.v.str.len, b1));
    else
        fprintf(out, "chat template absent\n");
}

/* "  KEY<pad> TYPE<pad> VALUE": the key column as wide as the widest key, the type column as
 * wide as the longest type name ("string"). */
static void print_metadata(FILE *out, const ky_gguf *g) {
    fprintf(out, "metadata\n");
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    size_t key_w = 0;
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *k = ky_gguf_kv_key(g, i);
        size_t c = name_columns(k, strlen(k), &sb);
        if (c > key_w) key_w = c;
    }
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        const char *k = ky_gguf_kv_key(g, i);
        ky_strbuf_reset(&sb);
        put_name(&sb, k, strlen(k));
        fputs("  ", out);
        print_padded(out, sb.data ? sb.data : "", key_w);
        ky_strbuf_reset(&sb);
        human_value(&sb, g, i, &v);
        fprintf(out, " %-6s %s\n", ky_gguf_type_name(v.type), sb.data ? sb.data : "");
    }
    ky_strbuf_free(&sb);
}

/* Decimal digits of v. */
static size_t digits(uint64_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Bytes per tensor type, then "  NAME  TYPE  SHAPE OFFSET BYTES" per tensor; every column as
 * wide as its widest entry (name, type and shape left-aligned, offset and bytes right-aligned;
 * the numeric columns are at least as wide as they always were: 5 and 12). */
static void print_tensors(FILE *out, const ky_gguf *g) {
    char b1[32];
    int64_t n = ky_gguf_n_tensors(g);
    /* bytes and count per type, in type-id order */
    uint64_t type_bytes[KY_TYPE_COUNT] = {0}, type_count[KY_TYPE_COUNT] = {0}, total = 0;
    size_t name_w = 4, shape_w = 5, type_w = 4, off_w = 12, bytes_w = 12;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t)) continue;
        size_t c = name_columns(t.name, t.name_len, &sb);
        if (c > name_w) name_w = c;
        if (t.type < KY_TYPE_COUNT) {
            type_bytes[t.type] += t.n_bytes;
            type_count[t.type]++;
        }
        const char *tn = ky_type_name(t.type);
        if (tn && strlen(tn) > type_w) type_w = strlen(tn);
        size_t sw = 0;
        for (uint32_t d = 0; d < t.n_dims; d++)
            sw += digits((uint64_t)t.ne[d]) + (d ? 3 : 0); /* " × " is 3 columns */
        if (sw > shape_w) shape_w = sw;
        if (digits(t.offset) > off_w) off_w = digits(t.offset);
        size_t bl = strlen(cli_human_bytes(t.n_bytes, b1));
        if (bl > bytes_w) bytes_w = bl;
        total += t.n_bytes;
    }
    fprintf(out, "tensor types\n");
    size_t count_w = 5, tbytes_w = 12;
    for (uint32_t ty = 0; ty < KY_TYPE_COUNT; ty++)
        if (type_count[ty]) {
            if (digits(type_count[ty]) > count_w) count_w = digits(type_count[ty]);
            size_t bl = strlen(cli_human_bytes(type_bytes[ty], b1));
            if (bl > tbytes_w) tbytes_w = bl;
        }
    for (uint32_t ty = 0; ty < KY_TYPE_COUNT; ty++)
        if (type_count[ty])
            fprintf(out, "  %-*s %*" PRIu64 " tensors %*s\n", (int)type_w, ky_type_name(ty),
                    (int)count_w, type_count[ty], (int)tbytes_w,
                    cli_human_bytes(type_bytes[ty], b1));
    fprintf(out, "tensors\n  ");
    print_padded(out, "name", name_w);
    fputs("  ", out);
    print_padded(out, "type", type_w);
    fputs("  ", out);
    print_padded(out, "shape", shape_w);
    fprintf(out, " %*s %*s\n", (int)off_w, "offset", (int)bytes_w, "bytes");
    for (int64_t i = 0; i < n; i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t)) continue;
        ky_strbuf_reset(&sb);
        put_name(&sb, t.name, t.name_len);
        fputs("  ", out);
        print_padded(out, sb.data ? sb.data : "", name_w);
        const char *tn = ky_type_name(t.type);
        fputs("  ", out);
        print_padded(out, tn ? tn : "?", type_w);
        ky_strbuf_reset(&sb);
        for (uint32_t d = 0; d < t.n_dims; d++)
            ky_strbuf_printf(&sb, "%s%" PRId64, d ? " × " : "", t.ne[d]);
        fputs("  ", out);
        print_padded(out, sb.data ? sb.data : "", shape_w);
        fprintf(out, " %*" PRIu64 " %*s\n", (int)off_w, t.offset, (int)bytes_w,
                cli_human_bytes(t.n_bytes, b1));
    }
    ky_strbuf_free(&sb);
    fprintf(out, "  total %s in %" PRId64 " tensors\n", cli_human_bytes(total, b1), n);
}

int cli_inspect_file(const char *path, bool json, FILE *out, FILE *err) {
    ky_gguf *g;
    ky_error e;
    if (ky_gguf_open(path, &g, &e) != KY_OK) {
        fprintf(err, "kaiyuan inspect: %s\n", e.message);
        return 1;
    }
    int rc = 0;
    if (json) {
        rc = print_json(g, path, out, err);
    } else {
        print_header(out, g, path);
        print_metadata(out, g);
        print_tensors(out, g);
    }
    ky_gguf_close(g);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(err, "kaiyuan inspect: cannot write the output\n");
        rc = 1;
    }
    return rc;
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
    return cli_inspect_file(path, json, stdout, stderr);
}
