/* cmd_pull.c — the model store commands: `kaiyuan pull`, `list`, `show` and `rm`, and the
 * download progress display every command pulling a model by name uses (layer: cli; uses
 * kaiyuan.h only).
 *
 * Progress goes to stderr: on a terminal a bar redrawn in place (bytes, rate, ETA); otherwise
 * plain lines — one when a file starts, one at each quarter reached (or every 30 s), and one when
 * it is verified — so logs and pipes stay readable.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

typedef struct progress_ui {
    bool tty, quiet;
    int quarter;      /* last quarter printed (pipe mode) */
    double last_line; /* seconds of the last line (pipe mode) */
    double last_draw; /* seconds of the last redraw (tty mode) */
    bool drawn;       /* a bar is on the current line */
} progress_ui;

static void fmt_eta(double s, char buf[32]) {
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, 32, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, 32, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, 32, "%ld:%02ld", t / 60, t % 60);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool on_progress(void *user, const ky_pull_progress *p) {
    progress_ui *ui = user;
    if (g_interrupted) return false;
    if (ui->quiet) return true;
    double rate = p->seconds > 0 ? (double)(p->done - p->resumed_from) / p->seconds : 0;
    char b1[32], b2[32], b3[32], eta[32];
    const char *name = base_name(p->file);
    switch (p->event) {
    case KY_PULL_LISTING: fprintf(stderr, "kaiyuan: listing %s\n", p->file); return true;
    case KY_PULL_WAIT:
        if (ui->drawn) fputc('\n', stderr);
        ui->drawn = false;
        fprintf(stderr, "kaiyuan: waiting for another kaiyuan process pulling %s\n", name);
        return true;
    case KY_PULL_START:
        ui->quarter = (int)(p->total ? p->done * 4 / p->total : 0);
        ui->last_line = 0;
        ui->last_draw = -1;
        if (ui->drawn) fputc('\n', stderr);
        ui->drawn = false;
        if (p->resumed_from)
            fprintf(stderr, "kaiyuan: pulling %s (%d/%d, %s): resuming at %s\n", name, p->index,
                    p->count, cli_human_bytes(p->total, b1), cli_human_bytes(p->resumed_from, b2));
        else
            fprintf(stderr, "kaiyuan: pulling %s (%d/%d, %s)\n", name, p->index, p->count,
                    cli_human_bytes(p->total, b1));
        return true;
    case KY_PULL_DATA:
    case KY_PULL_DONE: break;
    }
    bool done = p->event == KY_PULL_DONE;
    int pct = p->total ? (int)(p->done * 100 / p->total) : 100;
    if (ui->tty) {
        if (!done && p->seconds - ui->last_draw < 0.2) return true;
        ui->last_draw = p->seconds;
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fmt_eta(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta);
        fprintf(stderr, "\r%-32.32s %3d%% [%s] %s / %s  %s/s  ETA %s\x1b[K", name, pct, bar,
                cli_human_bytes(p->done, b1), cli_human_bytes(p->total, b2),
                cli_human_bytes((uint64_t)rate, b3), done ? "0:00" : eta);
        ui->drawn = true;
        if (done) {
            fputc('\n', stderr);
            ui->drawn = false;
        }
        fflush(stderr);
        return true;
    }
    int quarter = p->total ? (int)(p->done * 4 / p->total) : 4;
    if (done) {
        fprintf(stderr, "kaiyuan: %s: 100%%, %s in %.1f s (%s/s), verified\n", name,
                cli_human_bytes(p->total, b1), p->seconds, cli_human_bytes((uint64_t)rate, b2));
    } else if (quarter > ui->quarter || p->seconds - ui->last_line >= 30) {
        ui->quarter = quarter;
        ui->last_line = p->seconds;
        fmt_eta(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta);
        fprintf(stderr, "kaiyuan: %s: %d%% (%s of %s, %s/s, ETA %s)\n", name, pct,
                cli_human_bytes(p->done, b1), cli_human_bytes(p->total, b2),
                cli_human_bytes((uint64_t)rate, b3), eta);
    }
    return true;
}

bool cli_pull_one(const char *cmd, const char *ref, bool quiet, int retries, ky_store_entry *out) {
    ky_store_params sp = ky_store_default_params();
    if (retries >= 0) sp.n_retries = retries;
    progress_ui ui = {isatty(2) == 1, quiet, 0, 0, -1, false};
    sp.progress = on_progress;
    sp.progress_user = &ui;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    ky_error err;
    ky_status st = ky_pull(&sp, ref, out, &err);
    sigaction(SIGINT, &old, NULL);
    if (ui.drawn) fputc('\n', stderr);
    if (st) {
        fprintf(stderr, "kaiyuan %s: %s\n", cmd, err.message);
        return false;
    }
    return true;
}

static void pull_usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiyuan pull REF... [--quiet] [--retries N]\n\n"
        "Downloads models into the store (KAIYUAN_HOME, default ~/.cache/kaiyuan). REF:\n"
        "  hf.co/OWNER/REPO[:QUANT] or OWNER/REPO[:QUANT]   Hugging Face (HF_ENDPOINT, HF_TOKEN)\n"
        "  ms://OWNER/REPO[:QUANT]                          ModelScope (MODELSCOPE_ENDPOINT,\n"
        "                                                   MODELSCOPE_API_TOKEN)\n"
        "  NAME[:QUANT]                                     a short name (KAIYUAN_SOURCE=\n"
        "                                                   huggingface|modelscope):\n"
        "   ");
    for (int32_t i = 0; ky_catalog_name(i); i++) fprintf(f, " %s", ky_catalog_name(i));
    fprintf(
        f,
        "\n  ollama:NAME[:TAG]                                a model ollama downloaded "
        "(OLLAMA_MODELS)\n"
        "QUANT defaults to Q4_K_M (or the repository's only quant). A broken transfer resumes by\n"
        "itself up to N times (--retries, default 2); an interrupted pull resumes when run "
        "again.\n");
}

int cmd_pull(int argc, char **argv) {
    bool quiet = false;
    int n_refs = 0;
    long long retries = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--retries")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kaiyuan pull: --retries needs a value\n");
                return 2;
            }
            if (!cli_parse_int("pull", "--retries", argv[i + 1], 0, 100, &retries)) return 2;
            argv[i][0] = argv[i + 1][0] = '\0';
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            pull_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "kaiyuan pull: unknown option '%s'\n", argv[i]);
            pull_usage(stderr);
            return 2;
        } else {
            n_refs++;
        }
    }
    if (!n_refs) {
        pull_usage(stderr);
        return 2;
    }
    ky_store_params sp = ky_store_default_params();
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' || !argv[i][0]) continue;
        ky_model_ref r;
        ky_error err;
        if (ky_model_ref_parse(argv[i], sp.short_source, &r, &err) != KY_OK) {
            fprintf(stderr, "kaiyuan pull: %s\n", err.message);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' || !argv[i][0]) continue;
        ky_store_entry e;
        ky_error err;
        char b1[32];
        if (ky_store_find(&sp, argv[i], &e, &err) == KY_OK) {
            if (!quiet)
                fprintf(stderr, "kaiyuan: %s is already in the store: %s\n", e.name, e.path);
            continue;
        }
        if (!cli_pull_one("pull", argv[i], quiet, (int)retries, &e)) return 1;
        if (!quiet)
            fprintf(stderr, "kaiyuan: pulled %s (%d file%s, %s): %s\n", e.name, e.n_files,
                    e.n_files == 1 ? "" : "s", cli_human_bytes(e.size, b1), e.path);
    }
    return 0;
}

static void json_str(ky_strbuf *sb, const char *key, const char *v, bool comma) {
    ky_strbuf_printf(sb, "\"%s\": ", key);
    ky_strbuf_json_string(sb, v, strlen(v));
    if (comma) ky_strbuf_puts(sb, ", ");
}

static void entry_json(ky_strbuf *sb, const ky_store_entry *e) {
    ky_strbuf_puts(sb, "{");
    json_str(sb, "name", e->name, true);
    json_str(sb, "alias", e->alias, true);
    json_str(sb, "source", ky_source_name(e->source), true);
    json_str(sb, "quant", e->quant, true);
    ky_strbuf_printf(sb, "\"size\": %" PRIu64 ", \"n_files\": %d, ", e->size, e->n_files);
    json_str(sb, "path", e->path, true);
    json_str(sb, "origin", e->origin, true);
    json_str(sb, "sha256", e->sha256, true);
    ky_strbuf_printf(sb, "\"pulled_at\": %" PRId64 "}", e->pulled_at);
}

int cmd_list(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: kaiyuan list [--json]\n\nLists the models in the store (KAIYUAN_HOME) "
                   "and those ollama downloaded (OLLAMA_MODELS).\n");
            return 0;
        } else {
            fprintf(stderr, "kaiyuan list: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    ky_store_params sp = ky_store_default_params();
    ky_store_entry *list;
    size_t n;
    ky_error err;
    if (ky_store_list(&sp, &list, &n, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan list: %s\n", err.message);
        return 1;
    }
    if (json) {
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        ky_strbuf_puts(&sb, "[");
        for (size_t i = 0; i < n; i++) {
            if (i) ky_strbuf_puts(&sb, ",\n ");
            entry_json(&sb, &list[i]);
        }
        ky_strbuf_puts(&sb, "]\n");
        bool ok = !sb.failed && fwrite(sb.data, 1, sb.len, stdout) == sb.len;
        ky_strbuf_free(&sb);
        free(list);
        return ok ? 0 : 1;
    }
    if (n == 0) {
        fprintf(stderr,
                "kaiyuan list: no models in %s (nor in ollama's %s); get one with: kaiyuan pull "
                "qwen2.5:0.5b\n",
                sp.home, sp.ollama_dir);
    } else {
        printf("%-52s %-8s %10s  %-11s %s\n", "NAME", "QUANT", "SIZE", "SOURCE", "PATH");
        for (size_t i = 0; i < n; i++) {
            char b1[32];
            printf("%-52s %-8s %10s  %-11s %s\n", list[i].name,
                   list[i].quant[0] ? list[i].quant : "-", cli_human_bytes(list[i].size, b1),
                   ky_source_name(list[i].source), list[i].path);
        }
    }
    free(list);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: kaiyuan rm REF...\n\nRemoves models from the "
                                            "store (files no other model uses, manifests).\n");
        return argc < 2 ? 2 : 0;
    }
    ky_store_params sp = ky_store_default_params();
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        ky_store_entry e;
        ky_error err;
        if (ky_store_remove(&sp, argv[i], &e, &err) != KY_OK) {
            fprintf(stderr, "kaiyuan rm: %s\n", err.message);
            rc = err.status == KY_ERR_INVALID_ARG ? 2 : 1;
            continue;
        }
        char b1[32];
        printf("removed %s (%s)\n", e.name, cli_human_bytes(e.size, b1));
    }
    return rc;
}

int cmd_show(int argc, char **argv) {
    const char *ref = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: kaiyuan show REF [--json]\n\nShows where a stored model came from and "
                   "what kaiyuan inspect prints for its file.\n");
            return 0;
        } else if (argv[i][0] == '-' || ref) {
            fprintf(stderr, "kaiyuan show: unexpected argument '%s'\n", argv[i]);
            return 2;
        } else {
            ref = argv[i];
        }
    }
    if (!ref) {
        fprintf(stderr, "usage: kaiyuan show REF [--json]\n");
        return 2;
    }
    ky_store_params sp = ky_store_default_params();
    ky_store_entry e;
    ky_error err;
    if (ky_store_find(&sp, ref, &e, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan show: %s%s\n", err.message,
                err.status == KY_ERR_NOT_FOUND ? " (kaiyuan pull it first)" : "");
        return err.status == KY_ERR_INVALID_ARG ? 2 : 1;
    }
    if (json) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!mem) return 1;
        int rc = cli_inspect_file(e.path, true, mem, stderr);
        fclose(mem);
        if (rc) {
            free(buf);
            return rc;
        }
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        ky_strbuf_puts(&sb, "{\"model\": ");
        entry_json(&sb, &e);
        ky_strbuf_puts(&sb, ",\n\"gguf\": ");
        ky_strbuf_append(&sb, buf, len);
        ky_strbuf_puts(&sb, "}\n");
        bool ok = !sb.failed && fwrite(sb.data, 1, sb.len, stdout) == sb.len;
        ky_strbuf_free(&sb);
        free(buf);
        return ok ? 0 : 1;
    }
    char b1[32], when[64] = "-";
    if (e.pulled_at) {
        time_t t = (time_t)e.pulled_at;
        struct tm tm;
        if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    printf("name      %s\n", e.name);
    if (e.alias[0]) printf("alias     %s\n", e.alias);
    printf("source    %s\norigin    %s\nquant     %s\nfiles     %d (%s)\npath      %s\n"
           "sha256    %s\npulled    %s\n\n",
           ky_source_name(e.source), e.origin, e.quant[0] ? e.quant : "-", e.n_files,
           cli_human_bytes(e.size, b1), e.path, e.sha256[0] ? e.sha256 : "-", when);
    fflush(stdout);
    return cli_inspect_file(e.path, false, stdout, stderr);
}
