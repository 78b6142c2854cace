/* test_load_errors.c — broken models are refused with the right status and a message naming the
 * tensor / key / architecture, by ky_model_load and by `kaiyuan run` / `kaiyuan logits`.
 *
 * Each case derives a file from a shared tiny model with the GGUF writer (a tensor dropped,
 * reshaped or given an unsupported type id of the same byte size, a key dropped or changed, the
 * vocabulary grown past token_embd, a tensor added or left unused by a smaller block_count) into a
 * temp file, then checks the load status, the message,
 * and that both CLI commands exit 1 with that message on stderr and nothing on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

/* One change applied while copying a model. Unset fields change nothing. */
typedef struct mutation {
    const char *drop_tensor;
    const char *reshape_tensor; /* gets shape {ne0, ne1}, same type, zero data */
    int64_t ne0, ne1;
    const char *retype_tensor; /* same bytes, type id new_type */
    uint32_t new_type;
    const char *drop_key;
    const char *str_key, *str_val;
    const char *u32_key;
    uint32_t u32_val;
    int32_t extra_tokens;     /* appended to tokens / scores / token_type */
    const char *extra_tensor; /* appended: a copy of output_norm.weight under this name */
} mutation;

static ky_status set_grown_vocab(gguf_writer *w, const ky_gguf *g, int32_t extra) {
    int64_t kt = ky_gguf_find_key(g, "tokenizer.ggml.tokens");
    int64_t ks = ky_gguf_find_key(g, "tokenizer.ggml.scores");
    int64_t ky = ky_gguf_find_key(g, "tokenizer.ggml.token_type");
    if (kt < 0 || ks < 0 || ky < 0) return KY_ERR_NOT_FOUND;
    uint64_t n = ky_gguf_kv_value(g, kt).v.arr.n;
    ky_status st = gguf_writer_arr_begin(w, "tokenizer.ggml.tokens", KY_GGUF_STRING);
    for (uint64_t i = 0; i < n + (uint64_t)extra && !st; i++) {
        ky_gguf_value v;
        char extra_text[32];
        if (i < n) {
            if ((st = ky_gguf_array_get(g, kt, i, &v))) break;
        } else {
            v.type = KY_GGUF_STRING;
            v.v.str.len = (uint64_t)snprintf(extra_text, sizeof extra_text, "extra%llu",
                                             (unsigned long long)i);
            v.v.str.ptr = extra_text;
        }
        st = gguf_writer_arr_push(w, &v);
    }
    if (!st) st = gguf_writer_arr_end(w);
    size_t total = (size_t)n + (size_t)extra;
    float *scores = calloc(total, sizeof *scores);
    int32_t *types = calloc(total, sizeof *types);
    for (uint64_t i = 0; i < total && scores && types; i++) {
        ky_gguf_value a, b;
        bool old = i < n && !ky_gguf_array_get(g, ks, i, &a) && !ky_gguf_array_get(g, ky, i, &b);
        scores[i] = old ? (float)a.v.f64 : -1000.0f;
        types[i] = old ? (int32_t)b.v.i64 : 1;
    }
    if (!scores || !types) st = KY_ERR_NOMEM;
    if (!st) st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", KY_GGUF_F32, scores, total);
    if (!st) st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", KY_GGUF_I32, types, total);
    free(scores);
    free(types);
    return st;
}

/* Copies shared model `src` into temp file `name` with mutation m applied. Returns the path (a
 * static buffer) or NULL. */
static const char *derive(const char *src, const char *name, const mutation *m) {
    static char path[512];
    ky_gguf *g;
    ky_error err;
    if (ky_gguf_open(ky_test_shared(src), &g, &err) != KY_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    gguf_writer *w;
    ky_status st = gguf_writer_create(ky_gguf_version(g), (uint32_t)ky_gguf_alignment(g), &w, &err);
    void *zeros = NULL;
    for (int64_t i = 0; i < ky_gguf_n_kv(g) && !st; i++)
        if (!m->drop_key || strcmp(ky_gguf_kv_key(g, i), m->drop_key))
            st = gguf_writer_copy_kv(w, g, i);
    if (!st && m->str_key) st = gguf_writer_set_str(w, m->str_key, m->str_val, strlen(m->str_val));
    if (!st && m->u32_key) st = gguf_writer_set_u32(w, m->u32_key, m->u32_val);
    if (!st && m->extra_tokens) st = set_grown_vocab(w, g, m->extra_tokens);
    for (int64_t i = 0; i < ky_gguf_n_tensors(g) && !st; i++) {
        ky_gguf_tensor_info t;
        ky_gguf_tensor(g, i, &t);
        char tname[128];
        snprintf(tname, sizeof tname, "%.*s", (int)t.name_len, t.name);
        if (m->drop_tensor && !strcmp(tname, m->drop_tensor)) continue;
        if (m->reshape_tensor && !strcmp(tname, m->reshape_tensor)) {
            int64_t ne[2] = {m->ne0, m->ne1};
            free(zeros);
            zeros = calloc(1, (size_t)(m->ne0 * m->ne1 * 4)); /* >= any type's bytes */
            st =
                zeros ? gguf_writer_add_tensor(w, tname, t.type, 2, ne, zeros, NULL) : KY_ERR_NOMEM;
        } else if (m->retype_tensor && !strcmp(tname, m->retype_tensor)) {
            st = gguf_writer_add_tensor(w, tname, m->new_type, t.n_dims, t.ne, t.data, NULL);
        } else {
            st = gguf_writer_copy_tensor(w, g, i, NULL);
        }
        if (!st && m->extra_tensor && !strcmp(tname, "output_norm.weight"))
            st = gguf_writer_add_tensor(w, m->extra_tensor, t.type, t.n_dims, t.ne, t.data, NULL);
    }
    snprintf(path, sizeof path, "%s", ky_test_tmpfile(name));
    if (!st) st = gguf_writer_write_file(w, path);
    if (st) fprintf(stderr, "derive %s: %s\n", name, w ? gguf_writer_last_error(w) : "");
    gguf_writer_free(w);
    free(zeros);
    ky_gguf_close(g);
    return st ? NULL : path;
}

typedef ky_cli_result run_result;

/* Runs `kaiyuan args...` (NULL-terminated) capturing stdout and stderr (tests/support.h). */
static bool run_cli(run_result *r, const char *const *args) { return ky_test_cli(args, r) == 0; }

static void run_free(run_result *r) { ky_test_cli_free(r); }

/* Loads the derived file and checks the status and that the message holds every needle; then
 * `kaiyuan run` and `kaiyuan logits` must fail with exit 1, the first needle on stderr, and no
 * output. */
static void expect_refused(const char *src, const char *name, const mutation *m, ky_status want,
                           const char *needle1, const char *needle2) {
    const char *path = derive(src, name, m);
    REQUIRE(path != NULL);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", path);
    ky_model *model = NULL;
    ky_error err;
    ky_status st = ky_model_load(saved, NULL, &model, &err);
    CHECKF(st == want, "%s: status %s, want %s (%s)", name, ky_status_name(st),
           ky_status_name(want), err.message);
    CHECK(model == NULL);
    ky_model_free(model);
    if (st == KY_OK) return;
    CHECKF(err.status == st, "%s: err.status %d", name, (int)err.status);
    CHECKF(strstr(err.message, saved) != NULL, "%s: message does not name the file: %s", name,
           err.message);
    CHECKF(strstr(err.message, needle1) != NULL, "%s: message lacks '%s': %s", name, needle1,
           err.message);
    if (needle2)
        CHECKF(strstr(err.message, needle2) != NULL, "%s: message lacks '%s': %s", name, needle2,
               err.message);
    const char *run_args[] = {"run", "-m", saved, "--ids", "1,2", "-n", "1", "--quiet", NULL};
    const char *logit_args[] = {"logits", "-m", saved, "--ids", "1,2", "--quiet", NULL};
    const char *const *cmds[2] = {run_args, logit_args};
    for (int c = 0; c < 2; c++) {
        run_result r;
        REQUIRE(run_cli(&r, cmds[c]));
        CHECKF(r.exit_code == 1, "%s: kaiyuan %s exit %d", name, cmds[c][0], r.exit_code);
        CHECKF(strstr(r.err, needle1) != NULL, "%s: kaiyuan %s stderr lacks '%s': %s", name,
               cmds[c][0], needle1, r.err);
        CHECKF(strstr(r.err, "kaiyuan ") == r.err, "%s: stderr not prefixed: %s", name, r.err);
        CHECKF(r.n_out == 0, "%s: kaiyuan %s printed to stdout: %s", name, cmds[c][0], r.out);
        run_free(&r);
    }
}

static void test_unchanged_copy_loads(void) {
    /* The harness itself: an unmodified copy must load (so failures below are the mutations'). */
    mutation m = {0};
    const char *path = derive("models/tiny-llama-q8_0.gguf", "copy.gguf", &m);
    REQUIRE(path != NULL);
    ky_model *model = NULL;
    ky_error err;
    CHECKF(ky_model_load(path, NULL, &model, &err) == KY_OK, "%s", err.message);
    ky_model_free(model);
}

static void test_missing_tensor(void) {
    mutation m = {.drop_tensor = "blk.1.attn_k.weight"};
    expect_refused("models/tiny-llama-q8_0.gguf", "missing.gguf", &m, KY_ERR_FORMAT,
                   "blk.1.attn_k.weight", "missing");
    mutation q = {.drop_tensor = "blk.0.attn_q_norm.weight"};
    expect_refused("models/tiny-qwen3-q8_0.gguf", "missing-qnorm.gguf", &q, KY_ERR_FORMAT,
                   "blk.0.attn_q_norm.weight", "missing");
    mutation b = {.drop_tensor = "blk.1.attn_v.bias"};
    expect_refused("models/tiny-qwen2-q8_0.gguf", "missing-bias.gguf", &b, KY_ERR_FORMAT,
                   "blk.1.attn_v.bias", "missing");
    mutation e = {.drop_tensor = "token_embd.weight"};
    expect_refused("models/tiny-llama-q8_0.gguf", "missing-embd.gguf", &e, KY_ERR_FORMAT,
                   "token_embd.weight", "missing");
}

static void test_wrong_shape(void) {
    mutation m = {.reshape_tensor = "blk.0.ffn_up.weight", .ne0 = 256, .ne1 = 512};
    expect_refused("models/tiny-llama-q8_0.gguf", "shape.gguf", &m, KY_ERR_FORMAT,
                   "blk.0.ffn_up.weight", "{256, 512}");
    mutation x = {.reshape_tensor = "blk.1.ffn_down_exps.weight", .ne0 = 256, .ne1 = 256};
    expect_refused("models/tiny-qwen3moe-q8_0.gguf", "shape-moe.gguf", &x, KY_ERR_FORMAT,
                   "blk.1.ffn_down_exps.weight", "shape");
}

static void test_unsupported_arch(void) {
    mutation m = {.str_key = "general.architecture", .str_val = "mamba9"};
    expect_refused("models/tiny-llama-q8_0.gguf", "arch.gguf", &m, KY_ERR_UNSUPPORTED, "mamba9",
                   "architecture");
}

static void test_unsupported_type(void) {
    /* IQ4_NL blocks are 32 elements in 18 bytes, exactly like Q4_0: a valid file, unsupported. */
    mutation m = {.retype_tensor = "blk.0.attn_q.weight", .new_type = 20};
    expect_refused("models/tiny-llama-q4_0.gguf", "type.gguf", &m, KY_ERR_UNSUPPORTED,
                   "blk.0.attn_q.weight", "iq4_nl");
}

static void test_missing_hparam(void) {
    mutation m = {.drop_key = "llama.attention.layer_norm_rms_epsilon"};
    expect_refused("models/tiny-llama-q8_0.gguf", "eps.gguf", &m, KY_ERR_FORMAT,
                   "llama.attention.layer_norm_rms_epsilon", NULL);
    mutation e = {.drop_key = "qwen2.embedding_length"};
    expect_refused("models/tiny-qwen2-q8_0.gguf", "embd.gguf", &e, KY_ERR_FORMAT,
                   "qwen2.embedding_length", NULL);
    mutation x = {.drop_key = "qwen3moe.expert_used_count"};
    expect_refused("models/tiny-qwen3moe-q8_0.gguf", "experts.gguf", &x, KY_ERR_FORMAT,
                   "qwen3moe.expert_used_count", NULL);
}

static void test_head_ratio(void) {
    mutation m = {.u32_key = "llama.attention.head_count_kv", .u32_val = 3}; /* 4 heads */
    expect_refused("models/tiny-llama-q8_0.gguf", "heads.gguf", &m, KY_ERR_FORMAT, "not a multiple",
                   "kv heads");
}

static void test_vocab_larger_than_embedding(void) {
    mutation m = {.extra_tokens = 88}; /* 512 + 88 = 600 tokens, token_embd has 512 rows */
    expect_refused("models/tiny-llama-q8_0.gguf", "vocab.gguf", &m, KY_ERR_FORMAT, "token_embd",
                   "600 tokens");
}

/* Tensors the architecture does not bind are refused, as llama.cpp does ("wrong number of
 * tensors"): otherwise a block_count smaller than the file's layers silently runs a truncated
 * model. */
static void test_unused_tensors(void) {
    /* tiny-llama has 2 layers: 3 global tensors + 9 per layer = 21; with block_count 1, 12. */
    mutation m = {.u32_key = "llama.block_count", .u32_val = 1};
    expect_refused("models/tiny-llama-q8_0.gguf", "blocks.gguf", &m, KY_ERR_FORMAT,
                   "wrong number of tensors",
                   "the file has 21, a 1-layer llama model uses 12; tensor 'blk.1.");
    mutation x = {.extra_tensor = "blk.0.mystery.weight"};
    expect_refused("models/tiny-qwen3moe-q8_0.gguf", "extra.gguf", &x, KY_ERR_FORMAT,
                   "wrong number of tensors", "tensor 'blk.0.mystery.weight' is not used");
}

int main(void) {
    RUN(test_unchanged_copy_loads);
    RUN(test_missing_tensor);
    RUN(test_wrong_shape);
    RUN(test_unsupported_arch);
    RUN(test_unsupported_type);
    RUN(test_missing_hparam);
    RUN(test_head_ratio);
    RUN(test_vocab_larger_than_embedding);
    RUN(test_unused_tensors);
    TEST_EXIT();
}
