// common/: errors, allocation hook, files, hashing, JSON field readers.
#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "harness.h"

TEST(strerror_names_project_and_errno_codes)
{
    CHECK(strcmp(lwm_strerror(LWM_ECHECKSUM), "checksum mismatch") == 0, "checksum name");
    CHECK(strcmp(lwm_strerror(-ENOENT), strerror(ENOENT)) == 0, "errno passes through");
    CHECK(strcmp(lwm_strerror(-29999 - 20000), "unknown error") == 0, "unknown code");
}

static int checked(lwm_error *err, int value)
{
    LWM_CHECK(err, value > 0, LWM_EINVAL, "field \"n\": %d is not positive", value);
    return 0;
}

static int forwarded(lwm_error *err, int value)
{
    LWM_TRY(checked(err, value));
    return 7;
}

TEST(check_and_try_return_codes_with_messages)
{
    lwm_error err = {0};
    CHECK(forwarded(&err, 3) == 7, "success path");
    CHECK(err.code == 0, "no error recorded on success");
    CHECK(forwarded(&err, -2) == LWM_EINVAL, "error forwarded");
    CHECK(strstr(err.msg, "-2 is not positive") != NULL, "message: %s", err.msg);
    lwm_error_prefix(&err, "sample %s", "clip7");
    CHECK(strncmp(err.msg, "sample clip7: field", 19) == 0, "prefix: %s", err.msg);
}

typedef struct failing_alloc {
    int left; // allocations that still succeed
    int live;
} failing_alloc;

static void *fa_alloc(void *opaque, size_t n)
{
    failing_alloc *fa = opaque;
    if (fa->left-- <= 0) return NULL;
    fa->live++;
    return malloc(n);
}

static void fa_free(void *opaque, void *p)
{
    failing_alloc *fa = opaque;
    fa->live--;
    free(p);
}

TEST(grow_reports_failure_and_keeps_buffer)
{
    failing_alloc fa = {.left = 1};
    lwm_mem mem = {fa_alloc, fa_free, &fa};
    int *buf = NULL;
    size_t cap = 0;
    REQUIRE(lwm_grow(&mem, (void **)&buf, &cap, 10, sizeof *buf) == 0, "first grow");
    CHECK(cap >= 10, "capacity %zu", cap);
    for (int i = 0; i < 10; i++) buf[i] = i;
    int *before = buf;
    CHECK(lwm_grow(&mem, (void **)&buf, &cap, 1000, sizeof *buf) == -ENOMEM, "second grow fails");
    CHECK(buf == before && buf[9] == 9, "buffer unchanged after failure");
    lwm_free(&mem, buf);
    CHECK(fa.live == 0, "%d allocations leaked", fa.live);
    CHECK(lwm_calloc(NULL, SIZE_MAX / 2, 4) == NULL, "calloc overflow is refused");
}

TEST(atomic_write_then_read_back)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/a/b/c", test_tmpdir());
    lwm_error err = {0};
    REQUIRE(lwm_mkdirs(dir, &err) == 0, "mkdirs: %s", err.msg);
    REQUIRE(lwm_path_join(path, sizeof path, dir, "f.txt") == 0, "join");
    REQUIRE(lwm_write_file_atomic(path, "hello", 5, &err) == 0, "write: %s", err.msg);
    char *data = NULL;
    size_t n = 0;
    REQUIRE(lwm_read_file(NULL, path, &data, &n, &err) == 0, "read: %s", err.msg);
    CHECK(n == 5 && strcmp(data, "hello") == 0, "content");
    lwm_free(NULL, data);
    CHECK(lwm_read_file(NULL, "/nonexistent/x", &data, &n, &err) == -ENOENT, "missing file");
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL, "message names the file: %s", err.msg);
    char small[8];
    CHECK(lwm_path_join(small, sizeof small, "abcdef", "ghij") == -ENAMETOOLONG, "truncation");
}

TEST(hash_matches_published_xxh3_vectors)
{
    // XXH3_64bits("") from the xxHash specification's test vectors.
    CHECK(lwm_hash64("", 0) == 0x2D06800538D394C2ULL, "XXH3 of empty input");
    char hex1[33], hex2[33];
    lwm_hasher h;
    REQUIRE(lwm_hasher_init(&h) == 0, "init");
    lwm_hasher_update(&h, "ab", 2);
    lwm_hasher_update(&h, "c", 1);
    lwm_hasher_final(&h, hex1);
    REQUIRE(lwm_hasher_init(&h) == 0, "init");
    lwm_hasher_update(&h, "abc", 3);
    lwm_hasher_final(&h, hex2);
    CHECK(strlen(hex1) == 32 && strcmp(hex1, hex2) == 0, "streaming equals one-shot");
}

TEST(json_readers_name_the_field)
{
    cJSON *o = cJSON_Parse("{\"id\": 3, \"fps\": 1.5, \"name\": \"x\", \"n\": 2.5}");
    lwm_error err = {0};
    const char *s = NULL;
    int64_t i = 0;
    double d = 0;
    CHECK(lwm_json_get_string(o, "name", 1, &s, "line 4", &err) == 1 && strcmp(s, "x") == 0,
          "string");
    CHECK(lwm_json_get_int(o, "id", 1, &i, "line 4", &err) == 1 && i == 3, "int");
    CHECK(lwm_json_get_double(o, "fps", 1, &d, "line 4", &err) == 1 && d == 1.5, "double");
    CHECK(lwm_json_get_string(o, "id", 1, &s, "line 4", &err) == LWM_EINVAL, "type error");
    CHECK(strstr(err.msg, "line 4") && strstr(err.msg, "\"id\""), "message: %s", err.msg);
    CHECK(lwm_json_get_int(o, "n", 1, &i, "line 4", &err) == LWM_EINVAL, "non-integer");
    CHECK(lwm_json_get_int(o, "missing", 1, &i, "line 4", &err) == LWM_ENOTFOUND, "missing");
    CHECK(lwm_json_get_int(o, "missing", 0, &i, "line 4", &err) == 0, "optional");
    cJSON_Delete(o);
}

TEST(json_nul_and_duplicate_keys)
{
    const char *nul = "{\"id\": \"a\\u0000x\"}", *esc = "{\"id\": \"a\\\\u0000x\"}";
    CHECK(lwm_json_text_has_nul(nul, strlen(nul)) == 1, "\\u0000 not seen");
    CHECK(lwm_json_text_has_nul(esc, strlen(esc)) == 0,
          "an escaped backslash before u0000 is text");
    CHECK(lwm_json_text_has_nul("{\"a\":\"b\0\"}", 10) == 1, "raw NUL not seen");
    cJSON *o = cJSON_Parse("{\"v\": [1], \"c\": \"x\", \"v\": [2]}");
    const char *dup = NULL;
    CHECK(lwm_json_duplicate_key(o, &dup) == 1 && dup && strcmp(dup, "v") == 0, "dup %s", dup);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"v\": [1], \"c\": \"x\"}");
    CHECK(lwm_json_duplicate_key(o, &dup) == 0 && !dup, "distinct keys");
    cJSON_Delete(o);
}

TEST_MAIN("common", T(strerror_names_project_and_errno_codes),
          T(check_and_try_return_codes_with_messages), T(grow_reports_failure_and_keeps_buffer),
          T(atomic_write_then_read_back), T(hash_matches_published_xxh3_vectors),
          T(json_readers_name_the_field), T(json_nul_and_duplicate_keys))
