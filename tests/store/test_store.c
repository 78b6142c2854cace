/* test_store.c — the store's pure parts: SHA-256 against the FIPS 180-2 vectors, REF parsing and
 * canonical names, quant names in GGUF file names, split names, hub listings (well-formed and
 * hostile) and the choice of files. */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "kaiyuan.h"
#include "store/sha256.h"
#include "store/store.h"
#include "test.h"

static void hex_of(const void *data, size_t n, char hex[65]) {
    store_sha256 s;
    store_sha256_init(&s);
    store_sha256_update(&s, data, n);
    store_sha256_final_hex(&s, hex);
}

static void sha256_vectors(void) {
    char hex[65];
    /* FIPS 180-2, appendix B.1, B.2, B.3 */
    hex_of("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    char *million = malloc(1000000);
    REQUIRE(million);
    memset(million, 'a', 1000000);
    hex_of(million, 1000000, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* The same bytes fed in uneven pieces (1, 63, 64, 65, ... bytes) hash the same. */
    store_sha256 s;
    store_sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        store_sha256_update(&s, million + off, n);
        off += n;
        step = step * 7 % 131 + 1;
    }
    store_sha256_final_hex(&s, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(million);
    hex_of("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    /* 55 and 56 bytes: the padding boundary. */
    hex_of("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 55, hex);
    CHECK(!strcmp(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
    hex_of("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56, hex);
    CHECK(!strcmp(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
}

static void expect_ref(const char *text, ky_source src, const char *canonical) {
    ky_model_ref r;
    ky_error err;
    ky_status st = ky_model_ref_parse(text, src, &r, &err);
    CHECKF(st == KY_OK, "'%s': %s", text, err.message);
    if (st) return;
    char buf[KY_REF_NAME_MAX];
    ky_model_ref_format(&r, buf, sizeof buf);
    CHECKF(!strcmp(buf, canonical), "'%s' → '%s', want '%s'", text, buf, canonical);
}

static void expect_bad_ref(const char *text, const char *needle) {
    ky_model_ref r;
    memset(&r, 0x55, sizeof r);
    ky_model_ref before = r;
    ky_error err;
    ky_status st = ky_model_ref_parse(text, KY_SOURCE_HF, &r, &err);
    CHECKF(st == KY_ERR_INVALID_ARG, "'%s' accepted", text);
    if (st == KY_ERR_INVALID_ARG)
        CHECKF(strstr(err.message, needle), "'%s': message '%s' lacks '%s'", text, err.message,
               needle);
    CHECK(!memcmp(&r, &before, sizeof r)); /* untouched on failure */
}

static void refs(void) {
    expect_ref("hf.co/Qwen/Qwen3-4B-GGUF:q4_k_m", KY_SOURCE_HF, "hf.co/Qwen/Qwen3-4B-GGUF:Q4_K_M");
    expect_ref("huggingface.co/Qwen/Qwen3-4B-GGUF", KY_SOURCE_HF, "hf.co/Qwen/Qwen3-4B-GGUF");
    expect_ref("https://huggingface.co/a/b", KY_SOURCE_HF, "hf.co/a/b");
    expect_ref("bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0", KY_SOURCE_MODELSCOPE,
               "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0");
    expect_ref("ms://Qwen/Qwen3-8B-GGUF:Q5_K_M", KY_SOURCE_HF, "ms://Qwen/Qwen3-8B-GGUF:Q5_K_M");
    expect_ref("modelscope.cn/Qwen/Qwen3-8B-GGUF", KY_SOURCE_HF, "ms://Qwen/Qwen3-8B-GGUF");
    expect_ref("qwen2.5:0.5b", KY_SOURCE_HF, "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
    expect_ref("QWEN2.5:0.5B", KY_SOURCE_HF, "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
    expect_ref("qwen2.5:0.5b", KY_SOURCE_MODELSCOPE, "ms://Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
    expect_ref("qwen3:0.6b", KY_SOURCE_HF, "hf.co/Qwen/Qwen3-0.6B-GGUF:Q8_0");
    expect_ref("qwen3:30b-a3b:q8_0", KY_SOURCE_HF, "hf.co/Qwen/Qwen3-30B-A3B-GGUF:Q8_0");
    expect_ref("deepseek-r1:7b", KY_SOURCE_HF,
               "hf.co/unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF:Q4_K_M");
    expect_ref("ollama:qwen2.5:0.5b", KY_SOURCE_HF, "ollama:qwen2.5:0.5b");
    expect_ref("ollama:qwen2.5", KY_SOURCE_HF, "ollama:qwen2.5:latest");
    expect_ref("ollama:user/model:7b", KY_SOURCE_HF, "ollama:user/model:7b");
    expect_ref("ollama:host.example/user/model", KY_SOURCE_HF,
               "ollama:host.example/user/model:latest");
    /* Every catalogue name resolves on both hubs. */
    int n = 0;
    for (int32_t i = 0; ky_catalog_name(i); i++, n++) {
        ky_model_ref r;
        CHECK(ky_model_ref_parse(ky_catalog_name(i), KY_SOURCE_HF, &r, NULL) == KY_OK &&
              r.alias[0]);
        CHECK(ky_model_ref_parse(ky_catalog_name(i), KY_SOURCE_MODELSCOPE, &r, NULL) == KY_OK);
    }
    CHECK(n == 11 && ky_catalog_name(-1) == NULL);
    expect_bad_ref("", "empty");
    expect_bad_ref("qwen9:1b", "short name: qwen2.5:0.5b");
    expect_bad_ref("a/b/c", "one '/'");
    expect_bad_ref("../x/y", "owner");
    expect_bad_ref("a/..", "repository");
    expect_bad_ref("a/b c", "repository");
    expect_bad_ref("a/b:Q4-K", "QUANT");
    expect_bad_ref("a/b:", "QUANT");
    expect_bad_ref("a/b:Q4_K_M_0123456789012345678901234567890", "QUANT");
    expect_bad_ref("ollama:../x", "ollama names");
    expect_bad_ref("ollama:a/b/c/d", "ollama:[HOST/]");
    expect_bad_ref("ms://x", "OWNER/REPO");
    char longref[700];
    memset(longref, 'a', sizeof longref - 1);
    longref[sizeof longref - 1] = '\0';
    longref[3] = '/';
    expect_bad_ref(longref, "longer than");
    ky_model_ref r;
    ky_error err;
    CHECK(ky_model_ref_parse("qwen3:4b", KY_SOURCE_NONE, &r, &err) == KY_ERR_INVALID_ARG &&
          strstr(err.message, "KAIYUAN_SOURCE"));
}

static void quant_names(void) {
    static const struct {
        const char *file, *quant;
    } cases[] = {
        {"qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"},
        {"Qwen3-0.6B-Q8_0.gguf", "Q8_0"},
        {"Llama-3.2-1B-Instruct-IQ4_XS.gguf", "IQ4_XS"},
        {"DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf", "Q4_K_M"},
        {"qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"},
        {"BF16/Qwen3-30B-A3B-BF16-00002-of-00002.gguf", "BF16"},
        {"model.f16.gguf", "F16"},
        {"Qwen3-4B-UD-Q4_K_XL.GGUF", "Q4_K_XL"},
        {"model-tq1_0.gguf", "TQ1_0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[KY_REF_QUANT_MAX] = "";
        CHECKF(store_file_quant(cases[i].file, q) && !strcmp(q, cases[i].quant), "%s → '%s'",
               cases[i].file, q);
    }
    const char *none[] = {"README.md", "mmproj-model-f16.gguf", "model.gguf",
                          "q.gguf",    "config.json",           "x-q4_.gguf",
                          ".gguf",     "a-Q4_K_M.gguf.partial"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        char q[KY_REF_QUANT_MAX];
        CHECKF(!store_file_quant(none[i], q), "%s has no quant, got %s", none[i], q);
    }
    int part, count;
    size_t plen;
    CHECK(store_split_name("a-00002-of-00005.gguf", &part, &count, &plen) && part == 2 &&
          count == 5 && plen == 1);
    CHECK(!store_split_name("a-00006-of-00005.gguf", &part, &count, &plen));
    CHECK(!store_split_name("a-00000-of-00005.gguf", &part, &count, &plen));
    CHECK(!store_split_name("a-0001-of-00005.gguf", &part, &count, &plen));
    CHECK(!store_split_name("a-00001-of-99999.gguf", &part, &count, &plen));
    CHECK(store_valid_repo_path("a/b.gguf", 8));
    const char *bad_paths[] = {"/a", "a//b", "../a", "a/..", "a/./b", "a\\b", "a/", "", "a\nb"};
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++)
        CHECKF(!store_valid_repo_path(bad_paths[i], strlen(bad_paths[i])), "'%s' accepted",
               bad_paths[i]);
}

static const char *k_sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void listings(void) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"siblings\": [{\"rfilename\": \"README.md\", \"size\": 10},"
             " {\"rfilename\": \"m-Q8_0.gguf\", \"size\": 5, \"lfs\": {\"sha256\": \"%s\", "
             "\"size\": 7}},"
             " {\"rfilename\": \"../evil-Q4_K_M.gguf\", \"size\": 5},"
             " {\"rfilename\": \"big-Q4_0.gguf\", \"size\": 99999999999999999},"
             " {\"rfilename\": \"neg-Q4_0.gguf\", \"size\": -1}, 7, null,"
             " {\"rfilename\": \"m-Q4_K_M-00001-of-00002.gguf\", \"size\": 3},"
             " {\"rfilename\": \"m-Q4_K_M-00002-of-00002.gguf\", \"size\": 4},"
             " {\"rfilename\": \"m-Q6_K-00001-of-00002.gguf\", \"size\": 4}]}",
             "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
    store_listing l;
    ky_error err;
    REQUIRE(store_parse_hf_listing(json, strlen(json), "o/r", &l, &err) == KY_OK);
    CHECK(l.n == 5);
    CHECK(!strcmp(l.files[1].path, "m-Q8_0.gguf") && l.files[1].size == 7 &&
          !strcmp(l.files[1].sha256, k_sha));
    CHECK(l.files[0].sha256[0] == '\0');
    size_t idx[KY_STORE_MAX_PARTS], n_idx;
    char chosen[KY_REF_QUANT_MAX];
    CHECK(store_select(&l, "", "o/r", idx, &n_idx, chosen, &err) == KY_OK && n_idx == 2 &&
          !strcmp(chosen, "Q4_K_M") && idx[0] == 2 && idx[1] == 3);
    CHECK(store_select(&l, "Q8_0", "o/r", idx, &n_idx, chosen, &err) == KY_OK && n_idx == 1 &&
          idx[0] == 1);
    CHECK(store_select(&l, "Q6_K", "o/r", idx, &n_idx, chosen, &err) == KY_ERR_FORMAT &&
          strstr(err.message, "lacks part 2 of 2"));
    CHECK(store_select(&l, "Q2_K", "o/r", idx, &n_idx, chosen, &err) == KY_ERR_NOT_FOUND &&
          strstr(err.message, "available quants: Q4_K_M, Q6_K, Q8_0"));
    store_listing_free(&l);

    /* Tree API shape. */
    const char *tree =
        "[{\"type\": \"directory\", \"path\": \"d\"}, {\"type\": \"file\", \"path\": "
        "\"d/x-F16.gguf\", \"size\": 2, \"lfs\": {\"oid\": "
        "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
        "\"size\": 9}}]";
    REQUIRE(store_parse_hf_listing(tree, strlen(tree), "o/r", &l, &err) == KY_OK);
    CHECK(l.n == 1 && l.files[0].size == 9 && !strcmp(l.files[0].sha256, k_sha));
    /* The only quant is taken without asking. */
    CHECK(store_select(&l, "", "o/r", idx, &n_idx, chosen, &err) == KY_OK &&
          !strcmp(chosen, "F16"));
    store_listing_free(&l);

    const char *ms =
        "{\"Code\": 200, \"Data\": {\"Files\": [{\"Path\": \"a-q8_0.gguf\", \"Size\": "
        "4, \"Sha256\": \"01`3456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
        "\"Type\": \"blob\"}, {\"Path\": \"d\", \"Type\": "
        "\"tree\", \"Size\": 0}]}}";
    REQUIRE(store_parse_ms_listing(ms, strlen(ms), "o/r", &l, &err) == KY_OK);
    CHECK(l.n == 1 && l.files[0].sha256[0] == '\0'); /* a malformed hash is no hash */
    store_listing_free(&l);
    const char *ms_err = "{\"Code\": 10010205001, \"Message\": \"not found\"}";
    CHECK(store_parse_ms_listing(ms_err, strlen(ms_err), "o/r", &l, &err) == KY_ERR_NOT_FOUND &&
          strstr(err.message, "not found"));
    const char *empty = "{\"siblings\": [{\"rfilename\": \"README.md\", \"size\": 1}]}";
    REQUIRE(store_parse_hf_listing(empty, strlen(empty), "o/r", &l, &err) == KY_OK);
    CHECK(store_select(&l, "", "o/r", idx, &n_idx, chosen, &err) == KY_ERR_NOT_FOUND &&
          strstr(err.message, "no GGUF model files"));
    store_listing_free(&l);

    const char *bad[] = {
        "", "{", "[1,2", "{\"siblings\": 3}", "\"x\"", "{\"a\":1,\"a\":2}", "{\"Data\": {}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(store_parse_hf_listing(bad[i], strlen(bad[i]), "o/r", &l, &err) == KY_ERR_FORMAT,
               "hf accepted '%s'", bad[i]);
        CHECKF(store_parse_ms_listing(bad[i], strlen(bad[i]), "o/r", &l, &err) == KY_ERR_FORMAT,
               "ms accepted '%s'", bad[i]);
    }
}

int main(void) {
    RUN(sha256_vectors);
    RUN(refs);
    RUN(quant_names);
    RUN(listings);
    TEST_EXIT();
}
