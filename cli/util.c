// Shared CLI helpers: failure messages, the stderr logger, the progress line, option parsing.
#include <cjson/cJSON.h>
#include <errno.h>
#include <libavutil/log.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_vfail(const char *cmd, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "lwm %s: %s\n", cmd, msg);
    return 1;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vfail(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_fail_status(int status, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vfail(cmd, fmt, ap);
    va_end(ap);
    return status;
}

int cli_fail_err(const char *cmd, const lwm_error *err, int code)
{
    if (err && err->msg[0]) return cli_fail(cmd, "%s", err->msg);
    return cli_fail(cmd, "%s", lwm_strerror(code));
}

static void log_to_stderr(void *opaque, int level, const char *msg)
{
    (void)opaque;
    static const char *names[] = {"error", "warning", "info", "debug"};
    // On a terminal a progress line may be half-drawn: clear it so the message starts clean
    // (the next progress report draws the line again).
    fprintf(stderr, "%slwm: %s: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "",
            names[level < 0   ? 0
                  : level > 3 ? 3
                              : level],
            msg);
}

void cli_logger(lwm_logger *log, int verbose)
{
    log->fn = log_to_stderr;
    log->opaque = NULL;
    log->level = verbose ? LWM_LOG_DEBUG : LWM_LOG_INFO;
}

void cli_quiet_ffmpeg(int verbose)
{
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET);
}

static void format_duration(char *out, size_t cap, double s)
{
    if (s < 0) {
        snprintf(out, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, cap, "%02ld:%02ld", t / 60, t % 60);
}

static void progress_line(void *opaque, const lwm_progress_info *in)
{
    int tty = opaque != NULL;
    char eta[32], el[32], total[32] = "";
    format_duration(eta, sizeof eta, in->eta);
    format_duration(el, sizeof el, in->elapsed);
    if (in->total > 0) snprintf(total, sizeof total, "/%lld", (long long)in->total);
    char line[512];
    snprintf(line, sizeof line, "%s: %lld%s %s, %.1f %s/s, elapsed %s, ETA %s%s%s", in->task,
             (long long)in->done, total, in->unit, in->rate, in->unit, el, eta,
             in->detail ? ", " : "", in->detail ? in->detail : "");
    if (tty)
        fprintf(stderr, "\r\033[K%s%s", line, in->final ? "\n" : "");
    else
        fprintf(stderr, "lwm: progress: %s\n", line);
    fflush(stderr);
}

void cli_progress(lwm_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    if (quiet) return;
    int tty = isatty(STDERR_FILENO);
    p->fn = progress_line;
    p->opaque = tty ? (void *)p : NULL; // non-NULL marks "terminal"
    p->interval = tty ? 0.25 : 10.0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, long long min, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || *end || end == text || v < min)
        return cli_fail_status(-1, cmd, "%s: expected an integer >= %lld, got '%s'", opt, min,
                               text);
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end || end == text || !isfinite(v) || v <= 0)
        return cli_fail_status(-1, cmd, "%s: expected a positive number, got '%s'", opt, text);
    *out = v;
    return 0;
}

int cli_print_json(cJSON *value, int own)
{
    char *s = cJSON_PrintUnformatted(value);
    if (own) cJSON_Delete(value);
    if (!s) return cli_fail_status(-ENOMEM, "json", "out of memory");
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
    return 0;
}

void cli_put_escaped(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (; *p; p++) {
        unsigned c = *p;
        if (c == '\\')
            fputs("\\\\", out);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) // U+0080..U+009F: C1 controls (CSI)
            fprintf(out, "\\u%04x", (unsigned)p[1]), p++;
        else
            fputc((int)c, out);
    }
}
