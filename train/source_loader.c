// The data source over loader/loader.h (real corpora). Until the loader stage lands this
// reports that the build has no loader; the synthetic sources serve tests and the demo.
#include "internal.h"

int source_loader_create(train_source *src, const train_config *cfg, const char *config_path,
                         const char *data_dir, const train_ring *ring, lwm_error *err)
{
    (void)src, (void)cfg, (void)config_path, (void)ring;
    return lwm_error_set(err, LWM_EUNSUPPORTED,
                         "%s: reading corpora needs the loader stage, not in this build yet "
                         "(set data.kind to \"needle\" or \"mixed\" for synthetic data)", data_dir);
}
