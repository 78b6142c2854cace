/* status.c — status names and error message formatting (layer: base). */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *ky_status_name(ky_status status) {
    switch (status) {
    case KY_OK: return "ok";
    case KY_ERR_INVALID_ARG: return "invalid argument";
    case KY_ERR_IO: return "i/o error";
    case KY_ERR_FORMAT: return "format error";
    case KY_ERR_UNSUPPORTED: return "unsupported";
    case KY_ERR_NOMEM: return "out of memory";
    case KY_ERR_NOT_FOUND: return "not found";
    case KY_ERR_TYPE: return "type mismatch";
    case KY_ERR_CONTEXT_FULL: return "context full";
    case KY_ERR_INTERNAL: return "internal error";
    case KY_ERR_NETWORK: return "network error";
    case KY_ERR_DENIED: return "access denied";
    case KY_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

ky_status ky_errf(ky_error *err, ky_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void ky_error_clear(ky_error *err) {
    if (err) {
        err->status = KY_OK;
        err->message[0] = '\0';
    }
}
