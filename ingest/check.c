// Reading a manifest without decoding: `lwm ingest --check`, and the check
// that refuses a run up front when its video or image samples have no VQGAN
// to become codes. Lines are read exactly as the run reads them (run_next_job).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

// Reads the lines of from's range in a state of its own (its own file position and id
// table); counts them in res. With stop_at_media, stops at the first video or image
// sample, failures uncounted and unlogged. *first_media: its manifest line, 0 = none.
static int scan_lines(const run_state *from, lwm_ingest_run_result *res, int stop_at_media,
                      int64_t *media, int64_t *first_media)
{
    run_state r = {.opt = from->opt, .res = res, .err = from->err, .fields = from->fields};
    *media = *first_media = 0;
    int rc = run_open_manifest(&r);
    job *j = NULL;
    while (rc == 0 && (rc = run_next_job(&r, &j)) == 1) {
        rc = 0;
        struct stat sb; // what a run would find first: a missing file
        if (!stop_at_media && j->rc == 0 && j->sample.media && stat(j->sample.media, &sb) != 0)
            j->rc =
                lwm_error_set(&j->err, LWM_ENOTFOUND, "%s: %s", j->sample.media, strerror(errno));
        if (j->rc < 0 && !stop_at_media)
            run_report_failure(&r, j);
        else if (j->rc == 0)
            res->ok++;
        if (j->rc == 0 && j->sample.media && !(*media)++) *first_media = j->line;
        job_free(&r, j);
        if (stop_at_media && *media) break;
    }
    run_release(&r);
    run_close_manifest(&r);
    return rc;
}

int run_refuse_media(run_state *r)
{
    lwm_ingest_run_result scan = {0};
    int64_t media, line;
    LWM_TRY(scan_lines(r, &scan, 1, &media, &line));
    if (!media) return 0;
    r->res->usage = 1;
    return lwm_error_set(r->err, LWM_EINVAL,
                         "%s line %lld is a video or image sample, and no VQGAN weights are given "
                         "to turn its frames into codes (nor recorded by %s): give --vqgan W "
                         "(LWM's VQGAN through lwm vqgan import, or lwm vqgan init for a test)",
                         r->opt->manifest, (long long)line, r->opt->out_dir);
}

int lwm_ingest_check(const lwm_ingest_run_options *opt, lwm_ingest_run_result *res, int64_t *media,
                     lwm_error *err)
{
    memset(res, 0, sizeof *res);
    LWM_CHECK(err, opt && opt->manifest, LWM_EINVAL, "no manifest given");
    run_state r = {.opt = opt, .res = res, .err = err, .t0 = lwm_now()};
    int64_t n_media = 0, first;
    int rc = run_read_dataset(&r); // the default fields spec a dataset records
    if (rc == 0) rc = scan_lines(&r, res, 0, &n_media, &first);
    run_release_dataset(&r);
    if (media) *media = n_media;
    res->samples = res->ok + res->failed;
    res->seconds = lwm_now() - r.t0;
    return rc;
}
