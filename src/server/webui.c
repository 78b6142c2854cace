/* webui.c — the chat page embedded in the binary (layer: server).
 *
 * web/dist/ holds the page built by web/build.mjs (committed, so building kaiyuan needs no
 * Node.js): the HTML with its script and style inlined, the same gzip-compressed, and the
 * Content-Security-Policy that allows exactly that inline script and style by hash. The
 * assembler's .incbin puts the files into .rodata at build time (the Makefile makes this object
 * depend on them).
 */
#include <stddef.h>

#include "server/webui.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        "ky_webui_html_start: .incbin \"web/dist/index.html\"\n"
        "ky_webui_html_end:\n"
        ".balign 16\n"
        "ky_webui_gz_start: .incbin \"web/dist/index.html.gz\"\n"
        "ky_webui_gz_end:\n"
        ".balign 16\n"
        "ky_webui_csp_start: .incbin \"web/dist/csp.txt\"\n"
        "ky_webui_csp_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const unsigned char ky_webui_html_start[], ky_webui_html_end[];
extern const unsigned char ky_webui_gz_start[], ky_webui_gz_end[];
extern const char ky_webui_csp_start[], ky_webui_csp_end[];

srv_webui_page srv_webui(void) {
    srv_webui_page p;
    p.html = ky_webui_html_start;
    p.html_len = (size_t)(ky_webui_html_end - ky_webui_html_start);
    p.gz = ky_webui_gz_start;
    p.gz_len = (size_t)(ky_webui_gz_end - ky_webui_gz_start);
    p.csp = ky_webui_csp_start; /* NUL-terminated by the .byte above */
    return p;
}
