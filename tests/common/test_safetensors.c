// common/safetensors.c: the shared safetensors header parser against crafted headers
// (issue 15 item 2). Each hostile header is refused with one line naming the tensor;
// offsets near 2^64 never wrap into a pass.
#include <stdint.h>
#include <stdlib.h>

#include "common/common.h"
#include "harness.h"

// A file image: 8-byte length, header text, then data_bytes zero bytes.
static char *image(const char *header, size_t data_bytes, size_t *size)
{
    size_t h = strlen(header);
    *size = 8 + h + data_bytes;
    char *buf = calloc(1, *size);
    uint64_t len = h;
    for (int i = 0; i < 8; i++) buf[i] = (char)(len >> (8 * i));
    memcpy(buf + 8, header, h);
    return buf;
}

// Parses header+data; returns the code and leaves the message in err.
static int parse(const char *header, size_t data_bytes, lwm_st_header *h, lwm_error *err)
{
    size_t size;
    char *buf = image(header, data_bytes, &size);
    int rc = lwm_st_parse(h, buf, size, "w.safetensors", NULL, err);
    free(buf);
    return rc;
}

TEST(valid_header_parses)
{
    lwm_st_header h;
    lwm_error err = {0};
    int rc = parse("{\"__metadata__\":{\"format\":\"x\"},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
                   "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}}",
                   40, &h, &err);
    REQUIRE(rc == 0, "%s", err.msg);
    const lwm_st_tensor *b = lwm_st_find(&h, "b");
    CHECK(h.n == 3 && b && b->count == 4 && b->bytes == 16 && b->offset == h.data_start + 24,
          "n %d", h.n);
    CHECK(h.metadata != NULL, "metadata");
    lwm_st_release(&h);
}

typedef struct bad_case {
    const char *name, *header, *expect;
    size_t data;
} bad_case;

// 18446744073709547520 = 2^64 - 4096, exactly a double: the old code's data_start + b wrapped.
static const bad_case BAD[] = {
    {"offset_near_2_64",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[18446744073709547520,"
     "18446744073709551615]}}",
     "a: data_offsets are not", 4096},
    {"offset_wraps_exact",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[18446744073709543424,"
     "18446744073709547520]}}",
     "a: data_offsets are not", 4096},
    {"offset_fraction", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16.5]}}",
     "a: data_offsets are not", 32},
    {"offset_negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}",
     "a: data_offsets are not", 32},
    {"offset_huge", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[1e300,1e300]}}",
     "a: data_offsets are not", 32},
    {"shape_fraction", "{\"a\":{\"dtype\":\"F32\",\"shape\":[16.5],\"data_offsets\":[0,64]}}",
     "a: shape\\[0\\]", 64},
    {"shape_negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
     "a: shape\\[0\\]", 64},
    {"shape_not_number", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}",
     "a: shape\\[0\\]", 64},
    {"shape_product_wraps",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
     "a: shape overflows", 64},
    {"shape_bytes_wrap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
     "a: shape\\[0\\]", 64},
    {"span_disagrees", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}",
     "a: data_offsets \\[0, 12\\] do not hold 4 floats", 64},
    {"past_file_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[64,80]}}",
     "truncated: tensor a needs", 64},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     "tensors a and b overlap", 64},
    {"same_bytes",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
     "overlap", 64},
    {"name_twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     "tensor a appears twice", 64},
    {"dtype_f16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
     "a: dtype F16", 64},
    {"entry_not_object", "{\"a\":7}", "a: entry is not an object", 64},
    {"missing_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "a: header entry lacks", 64},
    {"too_many_dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
     "a: 9 dimensions", 64},
    {"metadata_not_object", "{\"__metadata__\":3}", "__metadata__ is not one object", 64},
    {"not_object", "[1,2]", "header is not a JSON object", 64},
    {"control_chars_in_name",
     "{\"a\\n\\u001b[31m\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,1]}}",
     "a\\?\\?\\[31m: data_offsets \\[0, 1\\]", 64},
};

static int matches(const char *msg, const char *pattern)
{
    // The patterns above escape [ ] ? with a backslash (shared with the shell tests' regexes).
    char plain[256];
    size_t n = 0;
    for (const char *p = pattern; *p && n + 1 < sizeof plain; p++)
        if (*p != '\\') plain[n++] = *p;
    plain[n] = '\0';
    return strstr(msg, plain) != NULL;
}

TEST(hostile_headers_refused_with_one_line)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        lwm_st_header h;
        lwm_error err = {0};
        int rc = parse(BAD[i].header, BAD[i].data, &h, &err);
        CHECK(rc < 0, "%s: accepted", BAD[i].name);
        CHECK(rc >= 0 || (matches(err.msg, BAD[i].expect) && !strchr(err.msg, '\n') &&
                          strncmp(err.msg, "w.safetensors: ", 15) == 0),
              "%s: message '%s'", BAD[i].name, err.msg);
        CHECK(h.tensors == NULL && h.root == NULL, "%s: not released", BAD[i].name);
    }
}

TEST(header_length_bounds)
{
    lwm_st_header h;
    lwm_error err = {0};
    char buf[16] = {0};
    memset(buf, 0xff, 8); // 2^64 - 1: 8 + hlen wrapped in a naive check
    CHECK(lwm_st_parse(&h, buf, sizeof buf, "w", NULL, &err) == LWM_EFORMAT &&
              strstr(err.msg, "header of 18446744073709551615 bytes"),
          "%s", err.msg);
    CHECK(lwm_st_parse(&h, buf, 7, "w", NULL, &err) == LWM_EFORMAT && strstr(err.msg, "7 bytes"),
          "%s", err.msg);
}

TEST_MAIN("common/safetensors", T(valid_header_parses), T(hostile_headers_refused_with_one_line),
          T(header_length_bounds))
