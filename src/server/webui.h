/* webui.h — the embedded chat page (layer: server). */
#ifndef KY_SERVER_WEBUI_H
#define KY_SERVER_WEBUI_H

#include <stddef.h>

typedef struct srv_webui_page {
    const unsigned char *html; /* text/html; charset=utf-8 */
    size_t html_len;
    const unsigned char *gz; /* the same, Content-Encoding: gzip */
    size_t gz_len;
    const char *csp; /* Content-Security-Policy value, NUL-terminated */
} srv_webui_page;

/* The page built into the binary; static data, never fails. */
srv_webui_page srv_webui(void);

#endif
