/* status.h — status codes with messages for internal modules (layer: base).
 *
 * Internal code reports failures as (ky_status, message). ky_errf() formats the message into an
 * optional ky_error and returns the status, so error paths read `return ky_errf(err, ...)`.
 */
#ifndef KY_BASE_STATUS_H
#define KY_BASE_STATUS_H

#include "kaiyuan.h"

#if defined(__GNUC__) || defined(__clang__)
#define KY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KY_PRINTF(a, b)
#endif

/* Formats a message into err (if not NULL; truncated to KY_ERROR_MAX) and returns status. */
ky_status ky_errf(ky_error *err, ky_status status, const char *fmt, ...) KY_PRINTF(3, 4);

/* Clears err to KY_OK with an empty message. err may be NULL. */
void ky_error_clear(ky_error *err);

#endif
