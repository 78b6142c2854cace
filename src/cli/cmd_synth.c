/* cmd_synth.c — `kaiyuan synth`: write a random-weight GGUF with the shapes, vocabulary size and
 * per-tensor type mixture of a real model, for benchmarks (layer: cli; uses kaiyuan.h only).
 *
 * Prints the planned type histogram (tensors, parameters, bytes per type) and the file size on
 * stdout; progress and timing go to stderr. --dry-run plans without writing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan synth --preset NAME --type TYPE -o FILE [options]\n"
               "  --seed S        random seed (default 42); same seed, same bytes\n"
               "  --layers N      keep only the first N layers (quick runs, tests)\n"
               "  --vocab N       vocabulary size override (>= 260)\n"
               "  --experts N     expert count override (MoE presets)\n"
               "  --dry-run       print the plan without writing (no -o needed)\n"
               "  --tensors       also list every tensor with its type and shape\n"
               "  --list          list the presets and types\n"
               "  --quiet         no progress on stderr\n"
               "presets:");
    for (int32_t i = 0; ky_synth_preset(i); i++) fprintf(f, " %s", ky_synth_preset(i));
    fprintf(f, "\ntypes:");
    for (int32_t i = 0; ky_synth_type(i); i++) fprintf(f, " %s", ky_synth_type(i));
    fprintf(f, "\n");
}

static void progress(void *user, uint64_t done, uint64_t total) {
    int *last = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct / 5 != *last / 5) {
        fprintf(stderr, "\rkaiyuan synth: writing %3d%%", pct);
        fflush(stderr);
        *last = pct;
    }
}

/* Type histogram of the plan, one line per type in id order. */
static void print_plan(const ky_synth *s, const ky_synth_params *p, bool tensors) {
    ky_synth_info in;
    ky_synth_get_info(s, &in);
    printf("%s %s: arch %s, %d layers, n_embd %d, heads %d/%d x %d, ff %d", p->preset, p->type,
           in.arch, in.n_layer, in.n_embd, in.n_head, in.n_head_kv, in.head_dim,
           in.n_expert ? in.n_ff_exp : in.n_ff);
    if (in.n_expert) printf(" (%d experts, %d used)", in.n_expert, in.n_expert_used);
    printf(", vocab %d, %s output, file_type %u\n", in.n_vocab, in.tied_output ? "tied" : "own",
           in.file_type);
    int64_t count[KY_TYPE_COUNT] = {0};
    uint64_t params[KY_TYPE_COUNT] = {0}, bytes[KY_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < in.n_tensors; i++) {
        const ky_synth_tensor *t = ky_synth_tensor_at(s, i);
        uint64_t n = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        count[t->type]++;
        params[t->type] += n;
        bytes[t->type] += t->n_bytes;
        if (tensors)
            printf("  %-32s %-5s {%" PRId64 ", %" PRId64 ", %" PRId64 "} %" PRIu64 " bytes\n",
                   t->name, ky_type_name(t->type), t->ne[0], t->ne[1], t->ne[2], t->n_bytes);
    }
    printf("  %-6s %8s %14s %16s %7s\n", "type", "tensors", "params", "bytes", "share");
    for (uint32_t ty = 0; ty < KY_TYPE_COUNT; ty++) {
        if (!count[ty]) continue;
        printf("  %-6s %8" PRId64 " %14" PRIu64 " %16" PRIu64 " %6.1f%%\n", ky_type_name(ty),
               count[ty], params[ty], bytes[ty],
               100.0 * (double)bytes[ty] / (double)in.tensor_bytes);
    }
    printf("  %-6s %8" PRId64 " %14" PRIu64 " %16" PRIu64 "\n", "total", in.n_tensors, in.n_params,
           in.tensor_bytes);
    char hb[32];
    printf("file: %" PRIu64 " bytes (%.1f MB, %s), %.3f bits per weight\n", in.file_bytes,
           (double)in.file_bytes / 1e6, cli_human_bytes(in.file_bytes, hb),
           8.0 * (double)in.tensor_bytes / (double)in.n_params);
}

int cmd_synth(int argc, char **argv) {
    ky_synth_params p = ky_synth_default_params();
    p.preset = p.type = NULL;
    const char *outp = NULL;
    bool dry = false, quiet = false, tensors = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            for (int32_t k = 0; ky_synth_preset(k); k++) printf("preset %s\n", ky_synth_preset(k));
            for (int32_t k = 0; ky_synth_type(k); k++) printf("type %s\n", ky_synth_type(k));
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--tensors")) {
            tensors = true;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "kaiyuan synth: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--preset")) {
            p.preset = argv[++i];
        } else if (!strcmp(a, "--type")) {
            p.type = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            outp = argv[++i];
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int("synth", a, argv[++i], 0, INT64_MAX, &v)) return 2;
            p.seed = (uint64_t)v;
        } else if (!strcmp(a, "--layers")) {
            if (!cli_parse_int("synth", a, argv[++i], 1, 1 << 20, &v)) return 2;
            p.n_layer = (int32_t)v;
        } else if (!strcmp(a, "--vocab")) {
            if (!cli_parse_int("synth", a, argv[++i], 1, INT32_MAX, &v)) return 2;
            p.n_vocab = (int32_t)v;
        } else if (!strcmp(a, "--experts")) {
            if (!cli_parse_int("synth", a, argv[++i], 1, 1 << 20, &v)) return 2;
            p.n_expert = (int32_t)v;
        } else {
            fprintf(stderr, "kaiyuan synth: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!p.preset || !p.type || (!outp && !dry)) {
        fprintf(stderr, "kaiyuan synth: --preset, --type and -o FILE are required\n");
        usage(stderr);
        return 2;
    }
    int last = -5;
    if (!quiet) {
        p.progress = progress;
        p.progress_user = &last;
    }
    ky_synth *s;
    ky_error err;
    if (ky_synth_plan(&p, &s, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan synth: %s\n", err.message);
        return err.status == KY_ERR_INVALID_ARG ? 2 : 1;
    }
    print_plan(s, &p, tensors);
    fflush(stdout);
    int rc = 0;
    if (!dry) {
        double t0 = ky_time_now();
        ky_status st = ky_synth_write(s, outp, &err);
        if (!quiet && last >= 0) fprintf(stderr, "\n");
        if (st != KY_OK) {
            fprintf(stderr, "kaiyuan synth: %s\n", err.message);
            rc = 1;
        } else if (!quiet) {
            ky_synth_info in;
            ky_synth_get_info(s, &in);
            double dt = ky_time_now() - t0;
            fprintf(stderr, "kaiyuan synth: wrote %s in %.2f s (%.0f MB/s)\n", outp, dt,
                    (double)in.file_bytes / 1e6 / (dt > 0 ? dt : 1e-9));
        }
    }
    ky_synth_free(s);
    return rc;
}
