/* fuzz_store.c — libFuzzer target for the model store's parsers of untrusted input (tests/fuzz;
 * built by fuzz.mk): REFs, and the Hugging Face and ModelScope listing JSON followed by the quant
 * choice, as a hub (or a mirror) could send them.
 *
 * The first byte picks the parser; the rest is the input. Properties: a rejected REF carries a
 * message and leaves the output untouched; an accepted REF formats to a canonical name that parses
 * back to the same REF; every listed path is a valid repository path and every size within the
 * limit; a chosen file set has the quant asked for and, for splits, every part in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_store: property violated: %s\n", what);
        abort();
    }
}

static void fuzz_ref(const char *s) {
    ky_model_ref r, back;
    memset(&r, 0x5a, sizeof r);
    ky_model_ref before = r;
    ky_error err;
    ky_source src = strlen(s) % 2 ? KY_SOURCE_HF : KY_SOURCE_MODELSCOPE;
    if (ky_model_ref_parse(s, src, &r, &err) != KY_OK) {
        require(err.message[0] != '\0', "a rejected REF has a message");
        require(!memcmp(&r, &before, sizeof r), "a rejected REF leaves the output untouched");
        return;
    }
    char name[KY_REF_NAME_MAX];
    ky_model_ref_format(&r, name, sizeof name);
    require(ky_model_ref_parse(name, src, &back, &err) == KY_OK, "the canonical name parses");
    require(back.source == r.source && !strcmp(back.owner, r.owner) && !strcmp(back.repo, r.repo) &&
                !strcmp(back.quant, r.quant) && !strcmp(back.host, r.host),
            "the canonical name is the same REF");
}

static void fuzz_listing(const char *json, size_t len, bool ms, const char *quant) {
    store_listing l;
    ky_error err;
    ky_status st = ms ? store_parse_ms_listing(json, len, "o/r", &l, &err)
                      : store_parse_hf_listing(json, len, "o/r", &l, &err);
    if (st) {
        require(err.message[0] != '\0', "a rejected listing has a message");
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        require(store_valid_repo_path(l.files[i].path, strlen(l.files[i].path)), "valid path");
        require(l.files[i].size <= KY_STORE_MAX_FILE_BYTES, "size within the limit");
        require(l.files[i].sha256[0] == '\0' || strlen(l.files[i].sha256) == 64, "sha256 form");
    }
    size_t idx[KY_STORE_MAX_PARTS], n_idx = 0;
    char chosen[KY_REF_QUANT_MAX];
    if (store_select(&l, quant, "o/r", idx, &n_idx, chosen, &err) == KY_OK) {
        require(n_idx >= 1 && n_idx <= KY_STORE_MAX_PARTS, "part count");
        for (size_t k = 0; k < n_idx; k++) {
            require(idx[k] < l.n, "index in the listing");
            char q[KY_REF_QUANT_MAX];
            require(store_file_quant(l.files[idx[k]].path, q) && !strcmp(q, chosen),
                    "chosen files carry the chosen quant");
            int part, count;
            size_t plen;
            if (n_idx > 1)
                require(store_split_name(l.files[idx[k]].path, &part, &count, &plen) &&
                            part == (int)k + 1 && count == (int)n_idx,
                        "split parts in order");
        }
        if (quant[0]) require(!strcmp(chosen, quant), "the quant asked for");
    } else {
        require(err.message[0] != '\0', "a failed choice has a message");
    }
    store_listing_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    static const char *const quants[] = {"", "Q4_K_M", "Q8_0", "F16"};
    switch (data[0] % 3) {
    case 0: fuzz_ref(s); break;
    case 1: fuzz_listing(s, size - 1, false, quants[(data[0] / 3) % 4]); break;
    case 2: fuzz_listing(s, size - 1, true, quants[(data[0] / 3) % 4]); break;
    }
    free(s);
    return 0;
}
