/* fuzz_inspect.c — libFuzzer target for `kaiyuan inspect`'s printing (tests/fuzz; built by
 * fuzz.mk).
 *
 * Each input is written to a memfd and inspected through its /proc/self/fd path with
 * cli_inspect_file(), the command minus argument parsing: the human report goes to /dev/null and
 * the --json object to memory. Properties: inspect accepts exactly the inputs the reader accepts
 * (gguf_open_memory on the same bytes); a rejected input prints nothing on out and one
 * "kaiyuan inspect: <message naming the file>" line on err; an accepted one prints nothing on err
 * and JSON that parses as one object with every tensor and every pair (keys that are not valid
 * UTF-8 are printed with U+FFFD, so two of them may merge: then only "at most n_kv").
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "cli/cli.h"
#include "gguf/gguf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_fd = -1;
static char g_path[64];
static FILE *g_null;

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_inspect: property violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; /* libFuzzer's signature; nothing to configure */
    (void)argv;
    g_fd = memfd_create("fuzz-inspect.gguf", MFD_CLOEXEC);
    require(g_fd >= 0, "memfd_create works");
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    g_null = fopen("/dev/null", "w");
    require(g_null != NULL, "/dev/null opens");
    return 0;
}

/* Runs cli_inspect_file with out and err captured in memory (out to /dev/null when !capture). */
static int inspect(bool json, bool capture, char **out, size_t *n_out, char **err, size_t *n_err) {
    FILE *fo = capture ? open_memstream(out, n_out) : g_null;
    FILE *fe = open_memstream(err, n_err);
    require(fo && fe, "open_memstream works");
    int rc = cli_inspect_file(g_path, json, fo, fe);
    if (capture) fclose(fo);
    fclose(fe);
    return rc;
}

/* true when every key of g is valid UTF-8 (then the JSON keys are the keys, all distinct). */
static bool keys_are_utf8(const ky_gguf *g) {
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *k = ky_gguf_kv_key(g, i);
        for (size_t n = strlen(k), j = 0; j < n;) {
            size_t len = ky_utf8_seq_len(k + j, n - j);
            if (!len) return false;
            j += len;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    require(ftruncate(g_fd, 0) == 0 && (size == 0 || pwrite(g_fd, data, size, 0) == (ssize_t)size),
            "input written to the memfd");
    ky_gguf *g = NULL;
    ky_error e;
    bool valid = gguf_open_memory(size ? data : (const uint8_t *)"", size, g_path, &g, &e) == KY_OK;
    for (int json = 0; json < 2; json++) {
        char *out = NULL, *err = NULL;
        size_t n_out = 0, n_err = 0;
        int rc = inspect(json, json, &out, &n_out, &err, &n_err);
        require(rc == (valid ? 0 : 1), "inspect accepts exactly what the reader accepts");
        if (!valid) {
            require(n_out == 0, "nothing on out for a rejected file");
            require(n_err > 17 && !strncmp(err, "kaiyuan inspect: ", 17) && strstr(err, g_path) &&
                        strchr(err, '\n') == err + n_err - 1,
                    "one message line naming the file");
        } else {
            require(n_err == 0, "nothing on err for an accepted file");
        }
        if (valid && json) {
            json_error_t jerr;
            /* as reals: u64 values above INT64_MAX are valid JSON but not jansson integers */
            json_t *j = json_loadb(out, n_out, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
            if (!j) fprintf(stderr, "fuzz_inspect: %s (line %d)\n", jerr.text, jerr.line);
            require(j && json_is_object(j), "--json prints one JSON object");
            int64_t n_meta = (int64_t)json_object_size(json_object_get(j, "metadata"));
            require(keys_are_utf8(g) ? n_meta == ky_gguf_n_kv(g) : n_meta <= ky_gguf_n_kv(g),
                    "every pair in the JSON metadata");
            require((int64_t)json_array_size(json_object_get(j, "tensors")) == ky_gguf_n_tensors(g),
                    "every tensor in the JSON");
            json_decref(j);
        }
        free(out);
        free(err);
    }
    ky_gguf_close(g);
    return 0;
}
