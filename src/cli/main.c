/* main.c — entry point of the `kaiyuan` command: dispatches to subcommands (layer: cli). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} k_commands[] = {
    {"inspect", cmd_inspect, "show a GGUF file's metadata and tensors (--json)"},
    {"run", cmd_run, "generate text from a prompt or token ids (streaming)"},
    {"logits", cmd_logits, "print the logits of every position of a prompt as JSON"},
    {"tokenize", cmd_tokenize, "print the token ids of a text as JSON (--pieces, --bench)"},
    {"bench", cmd_bench, "prompt and generation speed (tok/s) like llama-bench (--json)"},
    {"template", cmd_template, "render a chat template with a JSON context (--tokens: token ids)"},
    {"chat", cmd_chat, "chat with a model through its own template (piped: one message a line)"},
    {"pull", cmd_pull, "download a model by name from Hugging Face or ModelScope"},
    {"list", cmd_list, "list the models in the store (and ollama's) (--json)"},
    {"show", cmd_show, "show a stored model: where it came from, and what inspect prints"},
    {"rm", cmd_rm, "remove a model from the store"},
    {"synth", cmd_synth, "write a random-weight GGUF shaped like a real model (benchmarks)"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server with continuous batching"},
};

static void usage(FILE *f) {
    fprintf(f,
            "kaiyuan %s — local LLM inference on CPUs\n\nusage: kaiyuan COMMAND [options]\n\n"
            "commands:\n",
            KY_VERSION_STRING);
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f,
            "\nRun 'kaiyuan COMMAND --help' for a command's options.\n"
            "Exit status: 0 success, 1 runtime or model error, 2 usage error or bad arguments.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kaiyuan %s\n", KY_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (!strcmp(argv[1], k_commands[i].name)) return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kaiyuan: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
