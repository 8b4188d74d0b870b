// Peak memory of one training step against the sizing function's prediction, at growing
// sequence lengths (one process, ring of 1; each length in a fresh child process so the
// peak RSS belongs to that length alone).
// usage: bench_memory CONFIG OUTDIR LEN...
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "train/train.h"

static int one_step(const char *config, const char *dir, long long len)
{
    cJSON *root = NULL;
    lwm_error err = {0};
    if (lwm_json_load_file(config, &root, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    cJSON *stages = cJSON_CreateArray(), *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "seq_len", (double)len);
    cJSON_AddNumberToObject(s, "rope_theta", 10000000);
    cJSON_AddNumberToObject(s, "tokens_per_batch", (double)len);
    cJSON_AddNumberToObject(s, "total_tokens", (double)len);
    cJSON_AddItemToArray(stages, s);
    cJSON_ReplaceItemInObject(root, "stages", stages);
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "kind", "mixed");
    cJSON_ReplaceItemInObject(root, "data", data);
    char path[4096], *text = cJSON_Print(root);
    snprintf(path, sizeof path, "%s/mem-%lld.json", dir, len);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    cJSON_free(text);
    cJSON_Delete(root);
    lwm_train_options o = {0};
    o.config_path = path;
    o.data_dir = dir;
    o.out_dir = dir;
    o.overwrite = 1; // one run per length in the same directory
    lwm_train *t = NULL;
    double t0 = lwm_now();
    int rc = lwm_train_create(&t, &o, MPI_COMM_NULL, &err);
    if (rc == 0) rc = lwm_train_run(t, &err);
    lwm_train_free(t);
    if (rc < 0) return fprintf(stderr, "seq %lld: %s\n", len, err.msg), 1;
    int64_t pred = 0;
    lwm_train_predict_bytes(&pred, path, len, 1, omp_get_max_threads(), &err);
    printf("seq_len %7lld: predicted %7.1f MB, measured peak %7.1f MB, step %.1f s\n", len,
           pred / 1048576.0, lwm_peak_rss() / 1048576.0, lwm_now() - t0);
    fflush(stdout); // the child leaves with _exit
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) return fprintf(stderr, "usage: bench_memory CONFIG OUTDIR LEN...\n"), 2;
    int status = 0;
    for (int i = 3; i < argc; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(one_step(argv[1], argv[2], atoll(argv[i])));
        int ws = 0;
        waitpid(pid, &ws, 0);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            printf("seq_len %7s: failed\n", argv[i]);
            status = 1;
        }
    }
    return status;
}
