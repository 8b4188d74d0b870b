// Error codes and per-context messages.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

const char *lwm_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case LWM_EOF: return "end of stream";
    case LWM_EINVAL: return "invalid argument or input";
    case LWM_EFORMAT: return "unexpected format";
    case LWM_EDECODE: return "decoding failed";
    case LWM_ECHECKSUM: return "checksum mismatch";
    case LWM_EVERSION: return "unsupported format version";
    case LWM_ENOTFOUND: return "not found";
    case LWM_EEXISTS: return "already exists";
    case LWM_EFULL: return "full";
    case LWM_ENUMERIC: return "numerical failure (NaN or Inf)";
    case LWM_EMPI: return "MPI failure";
    case LWM_EINTERNAL: return "internal error";
    case LWM_EUNSUPPORTED: return "unsupported";
    default: break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code); // glibc's table is immutable; the value is not cached
    return "unknown error";
}

int lwm_error_set(lwm_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int lwm_error_prefix(lwm_error *err, const char *fmt, ...)
{
    if (!err) return 0;
    char joined[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    // Append ": old message" after the prefix, truncating the tail if needed.
    size_t used = n < 0 ? 0 : (size_t)n < sizeof joined ? (size_t)n : sizeof joined - 1;
    size_t room = sizeof joined - used;
    if (room > 2) {
        joined[used] = ':';
        joined[used + 1] = ' ';
        size_t len = strnlen(err->msg, sizeof err->msg);
        if (len > room - 3) len = room - 3;
        memcpy(joined + used + 2, err->msg, len);
        joined[used + 2 + len] = '\0';
    }
    memcpy(err->msg, joined, sizeof joined);
    return err->code;
}

void lwm_error_clear(lwm_error *err)
{
    if (!err) return;
    err->code = 0;
    err->msg[0] = '\0';
}
