// LWM's `fields` spec (lwm-format.md §3.1): comma-separated entries, each
// `[...]` for no loss, `<|bos|>`/`<|eos|>`, or field names joined by '+'.
// No whitespace trimming, exactly as LWM: "[vision], caption" names " caption".
// Whether a name is text or vision comes from the record's typed fields (see
// document.c), not from the name.
#include <cjson/cJSON.h>
#include <string.h>

#include "internal.h"

static int parse_item(loader_spec_item *it, const char *s, size_t len, lwm_error *err)
{
    memset(it, 0, sizeof *it);
    it->loss = 1;
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        it->loss = 0;
        s++;
        len -= 2;
    }
    LWM_CHECK(err, len > 0, LWM_EINVAL, "empty field name");
    if (len == 7 && memcmp(s, "<|bos|>", 7) == 0) return it->kind = ITEM_BOS, 0;
    if (len == 7 && memcmp(s, "<|eos|>", 7) == 0) return it->kind = ITEM_EOS, 0;
    it->kind = ITEM_FIELD;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '+') continue;
        LWM_CHECK(err, i > start, LWM_EINVAL, "empty name in '%.*s'", (int)len, s);
        LWM_CHECK(err, it->n_parts < LOADER_MAX_PARTS, LWM_EINVAL,
                  "more than %d names joined in '%.*s'", LOADER_MAX_PARTS, (int)len, s);
        it->part[it->n_parts] = s + start;
        it->part_len[it->n_parts++] = i - start;
        start = i + 1;
    }
    return 0;
}

int loader_spec_parse(loader_spec *spec, const char *text, size_t len, lwm_error *err)
{
    spec->n_items = 0;
    LWM_CHECK(err, len > 0, LWM_EINVAL, "empty fields spec");
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != ',') continue;
        LWM_CHECK(err, spec->n_items < LOADER_MAX_ITEMS, LWM_EINVAL,
                  "fields spec '%.*s' has more than %d entries", (int)len, text, LOADER_MAX_ITEMS);
        int rc = parse_item(&spec->item[spec->n_items], text + start, i - start, err);
        if (rc < 0)
            return lwm_error_prefix(err, "fields spec '%.*s': entry %d", (int)len, text,
                                    spec->n_items);
        spec->n_items++;
        start = i + 1;
    }
    return 0;
}

int loader_spec_choose(const cJSON *value, int64_t index, const loader_build_opts *b,
                       const char **spec, size_t *len, lwm_error *err)
{
    return loader_spec_choose_memo(value, index, b, NULL, spec, len, err);
}

int loader_spec_choose_memo(const cJSON *value, int64_t index, const loader_build_opts *b,
                            int8_t *memo, const char **spec, size_t *len, lwm_error *err)
{
    if (!value) {
        LWM_CHECK(err, b->default_spec, LWM_EINVAL, "no fields spec (and no default given)");
        *spec = b->default_spec;
        *len = strlen(b->default_spec);
        return 0;
    }
    if (cJSON_IsString(value)) {
        *spec = value->valuestring;
        *len = strlen(*spec);
        return 0;
    }
    LWM_CHECK(err, cJSON_IsArray(value), LWM_EINVAL, "fields spec is neither a string nor a list");
    int n = cJSON_GetArraySize(value);
    LWM_CHECK(err, n > 0, LWM_EINVAL, "fields spec is an empty list");
    int64_t pick;
    if (b->force_fields_index)
        pick = b->fields_index;
    else if (memo && memo[index] >= 0 && memo[index] < n)
        pick = memo[index];
    else
        pick = loader_py_choice((uint64_t)index, n);
    if (memo && pick < 127) memo[index] = (int8_t)pick;
    LWM_CHECK(err, pick >= 0 && pick < n, LWM_EINVAL, "fields_index %lld out of the list's %d",
              (long long)pick, n);
    const cJSON *entry = cJSON_GetArrayItem(value, (int)pick);
    LWM_CHECK(err, cJSON_IsString(entry), LWM_EINVAL, "fields spec entry %lld is not a string",
              (long long)pick);
    *spec = entry->valuestring;
    *len = strlen(*spec);
    return 0;
}
