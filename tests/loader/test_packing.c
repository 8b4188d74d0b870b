// Packing, shuffle, rank sharding and resume, on self-checking fixtures
// (tests/loader/fixtures.h): every frame of every document must come out
// exactly once per epoch, whole, in order, with consistent shifted targets.
#include <string.h>

#include "fixtures.h"
#include "loader/loader.h"

#define N_DOCS 60

static lwm_loader_options base_options(const char **paths, int n, int64_t seq_len)
{
    return fixture_options(paths, n, seq_len);
}

static lwm_loader *open_or_fail(const lwm_loader_options *o, const lwm_loader_state *st)
{
    lwm_loader *ld = NULL;
    lwm_error err = {0};
    int rc = lwm_loader_create(&ld, o, st, &err);
    CHECK(rc == 0, "create: %s", err.msg);
    return ld;
}

// Frame starts of one row: a vision input that is a code, after text or an eof.
static void count_frames(const lwm_loader_batch *b, int64_t k, int *counts)
{
    const int32_t *in = b->input_tokens + k * b->len;
    const uint8_t *v = b->input_vision_masks + k * b->len;
    const int32_t *seg = b->segment_ids + k * b->len;
    for (int64_t i = 1; i + 1 < b->len; i++) {
        if (!v[i] || in[i] >= 8192 || seg[i] == 0 || seg[i - 1] != seg[i]) continue;
        if (v[i - 1] && in[i - 1] != 8192) continue;
        int d = in[i], f = in[i + 1];
        if (d >= 0 && d < N_DOCS && f >= 0 && f < 5) counts[d * 5 + f]++;
    }
}

// Targets are the next inputs inside a segment; positions restart; padding has no loss.
static int row_consistent(const lwm_loader_batch *b, int64_t k, char *why, size_t cap)
{
    const int64_t at = k * b->len, n = b->len;
    for (int64_t i = 0; i < n; i++) {
        int32_t s = b->segment_ids[at + i];
        int start = i == 0 || b->segment_ids[at + i - 1] != s;
        if (s == 0 && b->loss_masks[at + i] != 0)
            return snprintf(why, cap, "padding at %lld has loss", (long long)i), 0;
        if (s != 0 && start && b->positions[at + i] != 0)
            return snprintf(why, cap, "segment at %lld starts at position %d", (long long)i,
                            b->positions[at + i]),
                   0;
        if (s != 0 && !start && b->positions[at + i] != b->positions[at + i - 1] + 1)
            return snprintf(why, cap, "position jumps at %lld", (long long)i), 0;
        if (i + 1 < n && s != 0 && b->segment_ids[at + i + 1] == s &&
            b->target_tokens[at + i] != b->input_tokens[at + i + 1])
            return snprintf(why, cap, "target %lld is not the next input", (long long)i), 0;
        // Inside a frame, codes follow the fixture's formula.
        if (b->target_vision_masks[at + i] && b->input_vision_masks[at + i] &&
            b->input_tokens[at + i] == 8192 && b->target_tokens[at + i] >= N_DOCS)
            return snprintf(why, cap, "frame at %lld does not start with its document",
                            (long long)i),
                   0;
    }
    return 1;
}

TEST(packed_each_frame_once_per_epoch)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    REQUIRE(path && fixture_tokenizer(), "fixtures");
    for (int split = 0; split < 2; split++) {
        // seq_len 700 holds whole documents of up to 2 frames; 300 forces frame-boundary splits.
        lwm_loader_options o = base_options(&path, 1, split ? 300 : 1400);
        o.pack_window = 16;
        lwm_loader *ld = open_or_fail(&o, NULL);
        REQUIRE(ld, "no loader");
        int counts[N_DOCS * 5] = {0};
        lwm_loader_batch b;
        int64_t rows = 0, splits = 0;
        char why[256];
        while (lwm_loader_next(ld, &b) == 0 && b.epoch == 0 && rows < 10000) {
            count_frames(&b, 0, counts);
            CHECK(row_consistent(&b, 0, why, sizeof why), "row %lld: %s", (long long)rows, why);
            rows++;
            splits += b.documents_split;
        }
        for (int d = 0; d < N_DOCS; d++)
            for (int f = 0; f < 5; f++)
                CHECK(counts[d * 5 + f] == (f < fixture_frames(d)),
                      "split %d: doc %d frame %d seen %d times", split, d, f, counts[d * 5 + f]);
        CHECK(split == (splits > 0), "split %d: %lld split pieces", split, (long long)splits);
        lwm_loader_free(ld);
    }
}

// Collects the first-frame document ids of the first rows, in order.
static void doc_order(lwm_loader_options *o, int *out, int n)
{
    lwm_loader *ld = open_or_fail(o, NULL);
    if (!ld) return;
    lwm_loader_batch b;
    int k = 0;
    while (k < n && lwm_loader_next(ld, &b) == 0)
        for (int64_t i = 1; i < b.len && k < n; i++)
            if (b.input_vision_masks[i] && !b.input_vision_masks[i - 1])
                out[k++] = b.input_tokens[i];
    lwm_loader_free(ld);
}

TEST(shuffle_is_seeded_and_off_means_file_order)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_options o = base_options(&path, 1, 2048);
    o.layout = LWM_LAYOUT_PAD;
    int a[N_DOCS], b[N_DOCS], c[N_DOCS];
    doc_order(&o, a, N_DOCS);
    doc_order(&o, b, N_DOCS);
    o.seed = 43;
    doc_order(&o, c, N_DOCS);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, different order");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seeds, same order");
    int seen[N_DOCS] = {0};
    for (int i = 0; i < N_DOCS; i++) seen[a[i]]++;
    for (int i = 0; i < N_DOCS; i++)
        CHECK(seen[i] == 1, "doc %d seen %d times in an epoch", i, seen[i]);
    o.no_shuffle = 1;
    doc_order(&o, a, N_DOCS);
    for (int i = 0; i < N_DOCS; i++) CHECK(a[i] == i, "no-shuffle row %d holds doc %d", i, a[i]);
    // The next epoch is another permutation.
    o.no_shuffle = 0;
    o.seed = 42;
    int two[2 * N_DOCS];
    doc_order(&o, two, 2 * N_DOCS);
    CHECK(memcmp(two, two + N_DOCS, sizeof a) != 0, "epoch 1 repeats epoch 0's order");
}

// Copies of n batches' arrays (the loader's own are reused between calls).
typedef struct saved {
    int32_t tok[8][4 * 1024];
    lwm_loader_batch b[8];
} saved;

static void save_batch(saved *s, int i, const lwm_loader_batch *b)
{
    s->b[i] = *b;
    size_t n = (size_t)(b->rows * b->len);
    memcpy(s->tok[i], b->input_tokens, n * 4);
    s->b[i].input_tokens = s->tok[i];
}

TEST(resume_is_identical_to_uninterrupted)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_layout layouts[] = {LWM_LAYOUT_PACKED, LWM_LAYOUT_LWM, LWM_LAYOUT_PAD};
    for (int l = 0; l < 3; l++) {
        lwm_loader_options o = base_options(&path, 1, 1024);
        o.rows = 2;
        o.pack_window = 8;
        o.layout = layouts[l];
        lwm_loader *ld = open_or_fail(&o, NULL);
        REQUIRE(ld, "no loader");
        static saved full;
        lwm_loader_batch b;
        uint8_t bytes[LWM_LOADER_STATE_BYTES];
        for (int i = 0; i < 40; i++) { // crosses epochs (60 docs)
            REQUIRE(lwm_loader_next(ld, &b) == 0, "next: %s", lwm_loader_errmsg(ld));
            if (i == 31) lwm_loader_state_save(bytes, &b.state);
            if (i >= 32) save_batch(&full, i - 32, &b);
        }
        lwm_loader_free(ld);
        lwm_loader_state st;
        lwm_error err = {0};
        REQUIRE(lwm_loader_state_load(&st, bytes, &err) == 0, "load: %s", err.msg);
        ld = open_or_fail(&o, &st);
        REQUIRE(ld, "no resumed loader");
        for (int i = 0; i < 8; i++) {
            REQUIRE(lwm_loader_next(ld, &b) == 0, "next: %s", lwm_loader_errmsg(ld));
            CHECK(!memcmp(b.input_tokens, full.tok[i], (size_t)(b.rows * b.len) * 4) &&
                      b.step == full.b[i].step && b.epoch == full.b[i].epoch,
                  "layout %d: resumed batch %d differs", l, i);
        }
        lwm_loader_free(ld);
    }
}

TEST(data_parallel_ranks_split_rows_without_overlap)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_options o = base_options(&path, 1, 512);
    o.rows = 4;
    lwm_loader *whole = open_or_fail(&o, NULL);
    o.dp_size = 2;
    lwm_loader *rank[2];
    for (int r = 0; r < 2; r++) o.dp_rank = r, rank[r] = open_or_fail(&o, NULL);
    REQUIRE(whole && rank[0] && rank[1], "no loader");
    for (int step = 0; step < 30; step++) {
        lwm_loader_batch w, p[2];
        REQUIRE(lwm_loader_next(whole, &w) == 0, "next");
        for (int r = 0; r < 2; r++) REQUIRE(lwm_loader_next(rank[r], &p[r]) == 0, "next");
        CHECK(p[0].rows == 2 && p[1].rows == 2, "rows %lld/%lld", (long long)p[0].rows,
              (long long)p[1].rows);
        for (int r = 0; r < 2; r++)
            CHECK(
                !memcmp(w.input_tokens + r * 2 * w.len, p[r].input_tokens,
                        (size_t)(2 * w.len) * 4) &&
                    !memcmp(w.loss_masks + r * 2 * w.len, p[r].loss_masks, (size_t)(2 * w.len) * 4),
                "step %d: rank %d's rows are not rows %d..%d of the global batch", step, r, 2 * r,
                2 * r + 1);
        uint8_t s0[LWM_LOADER_STATE_BYTES], s1[LWM_LOADER_STATE_BYTES];
        lwm_loader_state_save(s0, &p[0].state), lwm_loader_state_save(s1, &p[1].state);
        CHECK(!memcmp(s0, s1, sizeof s0), "ranks disagree on the state");
    }
    lwm_loader_free(whole), lwm_loader_free(rank[0]), lwm_loader_free(rank[1]);
}

TEST(ring_slices_reassemble_rows)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    for (int zigzag = 0; zigzag < 2; zigzag++) {
        // The whole row comes from one contiguous rank: the ring layout only slices it.
        lwm_loader_options o = base_options(&path, 1, 1024);
        lwm_loader *whole = open_or_fail(&o, NULL);
        o.ring_layout = zigzag ? LWM_RING_ZIGZAG : LWM_RING_CONTIGUOUS;
        o.sp_size = 4;
        lwm_loader *part[4];
        for (int r = 0; r < 4; r++) o.sp_rank = r, part[r] = open_or_fail(&o, NULL);
        REQUIRE(whole && part[0] && part[3], "no loader");
        for (int step = 0; step < 10; step++) {
            lwm_loader_batch w, p;
            REQUIRE(lwm_loader_next(whole, &w) == 0, "next");
            int32_t row[1024], target[1024], seg[1024];
            float loss[1024];
            for (int r = 0; r < 4; r++) {
                REQUIRE(lwm_loader_next(part[r], &p) == 0, "next");
                CHECK(p.len == 256, "len %lld", (long long)p.len);
                for (int64_t i = 0; i < p.len; i++) {
                    int64_t g = p.global_index[i];
                    int64_t want =
                        zigzag ? (i < 128 ? r * 128 + i : (7 - r) * 128 + i - 128) : r * 256 + i;
                    CHECK(g == want, "zigzag %d rank %d: local %lld holds %lld", zigzag, r,
                          (long long)i, (long long)g);
                    row[g] = p.input_tokens[i], target[g] = p.target_tokens[i];
                    seg[g] = p.segment_ids[i], loss[g] = p.loss_masks[i];
                }
                CHECK(!memcmp(p.row_segment_ids, w.segment_ids, sizeof seg),
                      "zigzag %d rank %d: whole-row segment ids differ from the 1-rank row", zigzag,
                      r);
            }
            CHECK(!memcmp(row, w.input_tokens, sizeof row) &&
                      !memcmp(target, w.target_tokens, sizeof target) &&
                      !memcmp(seg, w.segment_ids, sizeof seg) &&
                      !memcmp(loss, w.loss_masks, sizeof loss),
                  "step %d: %s slices do not rebuild the 1-rank row", step,
                  zigzag ? "zigzag" : "contiguous");
        }
        lwm_loader_free(whole);
        for (int r = 0; r < 4; r++) lwm_loader_free(part[r]);
    }
}

TEST(curriculum_moves_through_stages)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_stage stages[2] = {{512, 1e6, 1024, 3 * 1024}, {2048, 1e7, 2048, 2 * 2048}};
    lwm_loader_options o = base_options(&path, 1, 0);
    o.stages = stages;
    o.n_stages = 2;
    lwm_loader *ld = open_or_fail(&o, NULL);
    REQUIRE(ld, "no loader");
    lwm_loader_batch b;
    int want_stage[] = {0, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++) {
        REQUIRE(lwm_loader_next(ld, &b) == 0, "next %d", i);
        CHECK(b.stage == want_stage[i] && b.seq_len == stages[b.stage].seq_len &&
                  b.rope_theta == stages[b.stage].rope_theta,
              "batch %d: stage %d seq_len %lld", i, b.stage, (long long)b.seq_len);
        CHECK(b.rows == (b.stage ? 1 : 2), "batch %d: %lld rows", i, (long long)b.rows);
    }
    CHECK(b.stage_done, "last batch of the last stage not marked");
    CHECK(lwm_loader_next(ld, &b) == LWM_EOF, "no EOF after the last stage");
    lwm_loader_free(ld);
}

TEST(mixing_follows_weights)
{
    const char *paths[2];
    paths[0] = fixture_jsonl("mix_a.jsonl", 30, 0, 0);
    paths[1] = fixture_jsonl("mix_b.jsonl", 30, 30, 0);
    double w[2] = {3, 1};
    lwm_loader_options o = base_options(paths, 2, 4096);
    o.weights = w;
    o.layout = LWM_LAYOUT_PAD;
    int order[400];
    doc_order(&o, order, 400);
    int from_a = 0;
    for (int i = 0; i < 400; i++) from_a += order[i] < 30;
    CHECK(from_a >= 290 && from_a <= 310, "%d of 400 documents from the weight-3 dataset", from_a);
}

TEST(state_files_reject_damage)
{
    lwm_loader_state st = {7, 1, 2, 3, 4, 5, 6, 99, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}, back;
    uint8_t bytes[LWM_LOADER_STATE_BYTES];
    lwm_loader_state_save(bytes, &st);
    lwm_error err = {0};
    CHECK(lwm_loader_state_load(&back, bytes, &err) == 0 && back.seed == 7 && back.stage == 1 &&
              back.epoch == 2 && back.window == 3 && back.row == 4 && back.step == 5 &&
              back.tokens == 6 && back.config_hash == 99 && back.part_hash[0] == 11 &&
              back.part_hash[9] == 20,
          "round trip: %s", err.msg);
    bytes[30] ^= 1;
    CHECK(lwm_loader_state_load(&back, bytes, &err) == LWM_ECHECKSUM, "flipped byte accepted");
    lwm_loader_state_save(bytes, &st);
    bytes[8] = 9;
    CHECK(lwm_loader_state_load(&back, bytes, &err) == LWM_EVERSION, "other version accepted");
    bytes[0] = 'X';
    CHECK(lwm_loader_state_load(&back, bytes, &err) == LWM_EFORMAT, "bad magic accepted");
    // A state from other options is refused at create.
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_options o = base_options(&path, 1, 1024);
    lwm_loader *ld = open_or_fail(&o, NULL);
    REQUIRE(ld, "no loader");
    st = lwm_loader_get_state(ld);
    lwm_loader_free(ld);
    o.seq_len = 512;
    lwm_loader *other = NULL;
    CHECK(lwm_loader_create(&other, &o, &st, &err) == LWM_EINVAL &&
              strstr(err.msg, "stages[].seq_len"),
          "state of other options accepted: %s", err.msg);
    lwm_loader_free(other);
}

TEST(bad_records_fail_or_are_skipped)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.jsonl", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f, "fopen");
    fprintf(f, "{\"id\":\"good\",\"fields\":\"text\",\"text\":\"a dog\"}\n");
    fprintf(f, "{\"id\":\"typo\",\"fields\":\"[caption],text\",\"text\":\"a dog\"}\n");
    fprintf(f, "{\"id\":\"short\",\"fields\":\"vision\",\"vision\":[1,2,3]}\n");
    fclose(f);
    const char *p = path;
    lwm_loader_options o = base_options(&p, 1, 64);
    lwm_loader *ld = NULL;
    lwm_error err = {0};
    int rc = lwm_loader_create(&ld, &o, NULL, &err);
    CHECK(rc < 0 && strstr(err.msg, "typo") && strstr(err.msg, "'caption'"),
          "unknown field: rc %d, '%s'", rc, err.msg);
    lwm_loader_free(ld);
    o.on_bad_record = LWM_LOADER_SKIP;
    REQUIRE(lwm_loader_create(&ld, &o, NULL, &err) == 0, "skip: %s", err.msg);
    lwm_loader_info info;
    lwm_loader_get_info(ld, &info);
    CHECK(info.skipped == 2 && info.documents == 3, "skipped %lld of %lld", (long long)info.skipped,
          (long long)info.documents);
    lwm_loader_batch b;
    CHECK(lwm_loader_next(ld, &b) == 0, "next after skips: %s", lwm_loader_errmsg(ld));
    lwm_loader_free(ld);
}

TEST(prefetch_changes_nothing)
{
    const char *path = fixture_jsonl("docs.jsonl", N_DOCS, 0, 1);
    lwm_loader_options o = base_options(&path, 1, 1024);
    o.rows = 2;
    lwm_loader *sync = open_or_fail(&o, NULL);
    o.prefetch_bytes = 1 << 20;
    lwm_loader *ahead = open_or_fail(&o, NULL);
    REQUIRE(sync && ahead, "no loader");
    lwm_loader_info info;
    lwm_loader_get_info(ahead, &info);
    CHECK(info.prefetch_cap > 0 && info.prefetch_cap <= (1 << 20), "cap %zu", info.prefetch_cap);
    for (int i = 0; i < 50; i++) {
        lwm_loader_batch a, b;
        REQUIRE(lwm_loader_next(sync, &a) == 0 && lwm_loader_next(ahead, &b) == 0, "next");
        CHECK(!memcmp(a.input_tokens, b.input_tokens, (size_t)(a.rows * a.len) * 4) &&
                  !memcmp(a.segment_ids, b.segment_ids, (size_t)(a.rows * a.len) * 4),
              "batch %d differs with prefetch", i);
        lwm_loader_state s1 = lwm_loader_get_state(sync), s2 = lwm_loader_get_state(ahead);
        CHECK(s1.epoch == s2.epoch && s1.window == s2.window && s1.row == s2.row &&
                  s1.step == s2.step,
              "batch %d: prefetch state runs ahead of the consumed batch", i);
    }
    lwm_loader_free(sync);
    lwm_loader_free(ahead);
}

TEST(curriculum_presets_load)
{
    const char *root = getenv("LWM_ROOT") ? getenv("LWM_ROOT") : ".";
    const char *names[] = {"curriculum-lwm-text.json", "curriculum-tiny.json"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/%s", root, names[i]);
        lwm_loader_stage *st = NULL;
        int n = 0;
        lwm_error err = {0};
        REQUIRE(lwm_loader_curriculum_load(path, NULL, &st, &n, &err) == 0, "%s", err.msg);
        for (int s = 0; s < n; s++)
            CHECK(st[s].tokens_per_batch % st[s].seq_len == 0 && st[s].total_tokens > 0 &&
                      (s == 0 || (st[s].seq_len > st[s - 1].seq_len &&
                                  st[s].rope_theta >= st[s - 1].rope_theta)),
                  "%s: stage %d inconsistent", names[i], s);
        if (i == 0)
            CHECK(n == 5 && st[0].seq_len == 32768 && st[4].seq_len == 1048576 &&
                      st[4].rope_theta == 5e7,
                  "lwm-text preset is not 32K..1M");
        free(st);
    }
}

TEST_MAIN("loader/packing", T(curriculum_presets_load), T(prefetch_changes_nothing),
          T(packed_each_frame_once_per_epoch), T(shuffle_is_seeded_and_off_means_file_order),
          T(resume_is_identical_to_uninterrupted),
          T(data_parallel_ranks_split_rows_without_overlap), T(ring_slices_reassemble_rows),
          T(curriculum_moves_through_stages), T(mixing_follows_weights),
          T(state_files_reject_damage), T(bad_records_fail_or_are_skipped))
