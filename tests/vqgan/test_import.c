// The import path end to end: the test makes fresh random tensors (tiny
// preset's names and shapes) and writes them as LWM's pickle (nested dicts,
// HWIO) and as an aMUSEd/diffusers safetensors (OIHW names of their own,
// ref_vqgan.py import-fixtures). The pickle goes through vqgan/import_pickle.py
// and lwm_vqgan_import, the diffusers file through lwm_vqgan_import: both must
// give the same tensor hash as the expected LWM-layout file and identical codes.
#include "harness.h"
#include "vqgan_test.h"

static int encode_with(const char *weights, const float *frames, int n, uint16_t *codes,
                       char hash[33])
{
    lwm_vqgan *v = lwm_vqgan_create(NULL);
    int rc = lwm_vqgan_load(v, weights);
    if (rc == 0) rc = lwm_vqgan_encode(v, codes, frames, n);
    if (rc < 0) fprintf(stderr, "%s\n", lwm_vqgan_errmsg(v));
    snprintf(hash, 33, "%s", lwm_vqgan_weights_hash(v));
    lwm_vqgan_free(v);
    return rc;
}

TEST(pickle_and_diffusers_give_identical_codes)
{
    const char *tmp = test_tmpdir(), *root = getenv("LWM_ROOT");
    char cfg_path[1024], like[1024], pkl[1024], diff[1024], expect[1024], conv[1024], a[1024],
        b[1024], cmd[8192];
    snprintf(cfg_path, sizeof cfg_path, "%s/configs/vqgan/tiny.json", root ? root : ".");
    snprintf(like, sizeof like, "%s/like.safetensors", tmp);
    snprintf(pkl, sizeof pkl, "%s/vqgan.pkl", tmp);
    snprintf(diff, sizeof diff, "%s/diffusers.safetensors", tmp);
    snprintf(expect, sizeof expect, "%s/expect.safetensors", tmp);
    snprintf(conv, sizeof conv, "%s/from-pickle.safetensors", tmp);
    snprintf(a, sizeof a, "%s/a.safetensors", tmp);
    snprintf(b, sizeof b, "%s/b.safetensors", tmp);
    lwm_vqgan_config cfg;
    lwm_error err = {0};
    REQUIRE(lwm_vqgan_config_load(&cfg, cfg_path, &err) == 0, "%s", err.msg);
    REQUIRE(lwm_vqgan_init_weights(like, &cfg, 5, &err) == 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "import-fixtures %s %s %s %s", like, pkl, diff, expect);
    REQUIRE(run_reference(cmd) == 0, "fixture script failed");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/vqgan/import_pickle.py %s %s", root ? root : ".",
             pkl, conv);
    REQUIRE(system(cmd) == 0, "import_pickle.py failed");
    int layout = 0;
    REQUIRE(lwm_vqgan_import(a, conv, &layout, &err) == 0, "pickle route: %s", err.msg);
    CHECK(layout == LWM_VQGAN_LAYOUT_LWM, "pickle route detected layout %d", layout);
    REQUIRE(lwm_vqgan_import(b, diff, &layout, &err) == 0, "diffusers route: %s", err.msg);
    CHECK(layout == LWM_VQGAN_LAYOUT_DIFFUSERS, "diffusers file detected as layout %d", layout);

    size_t ff = 256 * 256 * 3;
    float *frames = malloc(2 * ff * sizeof(float));
    synthetic_frame(frames, 256, 0);
    synthetic_frame(frames + ff, 256, 3);
    uint16_t ca[512], cb[512], ce[512];
    char ha[33], hb[33], he[33];
    REQUIRE(encode_with(a, frames, 2, ca, ha) == 0, "encode with the pickle import failed");
    REQUIRE(encode_with(b, frames, 2, cb, hb) == 0, "encode with the diffusers import failed");
    REQUIRE(encode_with(expect, frames, 2, ce, he) == 0, "encode with the expected weights failed");
    CHECK(strcmp(ha, he) == 0 && strcmp(hb, he) == 0,
          "hashes differ: pickle %s diffusers %s expected %s", ha, hb, he);
    int same_ab = 0, same_e = 0, distinct = 0;
    for (int i = 0; i < 512; i++) {
        same_ab += ca[i] == cb[i];
        same_e += ca[i] == ce[i];
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = ca[j] == ca[i];
        distinct += !seen;
    }
    CHECK(same_ab == 512 && same_e == 512,
          "codes: pickle vs diffusers %d/512 equal, vs expected %d/512", same_ab, same_e);
    CHECK(distinct > 16, "only %d distinct codes: the comparison would prove little", distinct);
    free(frames);
}

TEST_MAIN("vqgan/import", T(pickle_and_diffusers_give_identical_codes))
