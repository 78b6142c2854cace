/* cmd_template.c — `kaiyuan template`: render a chat template with the variables of a JSON file,
 * byte for byte as transformers does, or print the token ids of the rendering (layer: cli; uses
 * kaiyuan.h only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiyuan template (-m MODEL | --file TEMPLATE.jinja) --context CTX.json [options]\n"
        "  renders the chat template with the variables of CTX (a JSON object: messages, tools,\n"
        "  add_generation_prompt, bos_token, eos_token, ...) and prints it with no newline added\n"
        "  --tokens    print the JSON array of token ids instead (needs -m): special tokens are\n"
        "              matched only in template text, never in message contents\n"
        "  --openai    normalise OpenAI-style messages (content parts, string arguments, null)\n"
        "exit status: 0 ok, 1 template error (message on stderr), 2 usage\n");
}

int cmd_template(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *ctx_path = NULL;
    bool tokens = false, openai = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has)
            model_path = argv[++i];
        else if (!strcmp(a, "--file") && has)
            file = argv[++i];
        else if (!strcmp(a, "--context") && has)
            ctx_path = argv[++i];
        else if (!strcmp(a, "--tokens"))
            tokens = true;
        else if (!strcmp(a, "--openai"))
            openai = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "kaiyuan template: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if ((!model_path && !file) || !ctx_path || (tokens && !model_path)) {
        fprintf(stderr, "kaiyuan template: %s\n",
                !ctx_path               ? "--context is required"
                : tokens && !model_path ? "--tokens needs -m MODEL"
                                        : "give -m MODEL or --file TEMPLATE");
        usage(stderr);
        return 2;
    }
    int rc = 1;
    ky_model *model = NULL;
    ky_chat_template *tmpl = NULL;
    ky_chat_prompt *prompt = NULL;
    char *src = NULL, *ctx = NULL;
    size_t src_len = 0, ctx_len = 0;
    ky_error err;
    if (!(ctx = cli_read_file("template", ctx_path, &ctx_len))) goto done;
    if (model_path && !cli_load_model("template", model_path, true, true, &model)) goto done;
    if (file) {
        if (!(src = cli_read_file("template", file, &src_len))) goto done;
        const char *base = strrchr(file, '/');
        if (ky_chat_template_parse(src, src_len, base ? base + 1 : file, &tmpl, &err)) {
            fprintf(stderr, "kaiyuan template: %s\n", err.message);
            goto done;
        }
    } else if (ky_chat_template_from_model(model, &tmpl, &err)) {
        fprintf(stderr, "kaiyuan template: %s: %s\n", model_path, err.message);
        goto done;
    }
    if (ky_chat_render(tmpl, model, ctx, ctx_len, openai ? KY_CHAT_OPENAI : 0, &prompt, &err)) {
        fprintf(stderr, "kaiyuan template: %s\n", err.message);
        goto done;
    }
    if (tokens) {
        ky_token *ids;
        size_t n;
        if (ky_chat_prompt_tokenize(prompt, model, &ids, &n, &err)) {
            fprintf(stderr, "kaiyuan template: %s\n", err.message);
            goto done;
        }
        putchar('[');
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
        puts("]");
        free(ids);
    } else {
        size_t len;
        const char *text = ky_chat_prompt_text(prompt, &len);
        fwrite(text, 1, len, stdout);
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
done:
    ky_chat_prompt_free(prompt);
    ky_chat_template_free(tmpl);
    ky_model_free(model);
    free(src);
    free(ctx);
    return rc;
}
