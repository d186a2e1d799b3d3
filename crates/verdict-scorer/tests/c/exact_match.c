/* A scorer plugin written in C against include/verdict_plugin.h: exact
 * match of the output against the expectation "expected_response".
 * With the config {"verdict":true} it reports instead how many bytes the
 * lengths differ by, a number, with its own verdict beside it (pass when
 * equal). The host's tests compile it with the system C compiler and load
 * it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict_plugin.h"

static const char *last = "";

static vd_str str(const char *s) {
    vd_str out = {(const uint8_t *)s, strlen(s)};
    return out;
}

/* Text copied into the call's buffer, or {NULL, length} when it does not fit. */
static vd_str copy(vd_buf *buf, const uint8_t *text, size_t len) {
    vd_str out = {NULL, len};
    if (len <= buf->cap - buf->len) {
        memcpy(buf->ptr + buf->len, text, len);
        out.ptr = buf->ptr + buf->len;
        buf->len += len;
    }
    return out;
}

static const char VERDICT_CONFIG[] = "{\"verdict\":true}";

static int32_t create(vd_str config, void **state) {
    int verdict = config.len == sizeof VERDICT_CONFIG - 1 &&
                  memcmp(config.ptr, VERDICT_CONFIG, config.len) == 0;
    if (config.len > 2 && !verdict) { /* anything but "", "{}" or the above */
        last = "c_exact_match takes no settings but verdict=true";
        return VD_RC_ERROR;
    }
    char *mode = malloc(1);
    if (!mode) return VD_RC_ERROR;
    *mode = (char)verdict;
    *state = mode;
    return VD_RC_OK;
}

static int eq(vd_str a, vd_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int32_t score(const void *state, const vd_record *record, vd_buf *text,
                     vd_result *result) {
    int verdict_mode = *(const char *)state;
    const vd_value *expected = NULL;
    for (size_t i = 0; i < record->n_expectations; i++) {
        vd_str name = record->expectations[i].name;
        if (eq(name, str("expected_response"))) expected = &record->expectations[i].value;
    }
    result->number = 0.0;
    result->label.ptr = NULL;
    result->label.len = 0;
    if (!expected) {
        result->status = VD_STATUS_ERROR;
        result->kind = 0;
        /* String literals are static: pointed at, never copied. */
        result->label = str("MISSING_EXPECTATION");
        result->rationale = str("no expected_response");
        return VD_RC_OK;
    }
    int match = eq(record->outputs.text, expected->text);
    result->status = VD_STATUS_OK;
    if (verdict_mode) {
        size_t a = record->outputs.text.len, b = expected->text.len;
        result->kind = VD_KIND_NUMBER;
        result->number = (double)(a > b ? a - b : b - a);
        result->verdict = match ? VD_VERDICT_PASS : VD_VERDICT_FAIL;
        result->rationale.ptr = NULL;
        result->rationale.len = 0;
        return VD_RC_OK;
    }
    result->kind = VD_KIND_BOOL;
    result->verdict = VD_VERDICT_NONE; /* unread with a bool: the bool is the verdict */
    result->number = match ? 1.0 : 0.0;
    /* A rationale made per record is copied: "c: equal (<n> bytes)". */
    char why[64];
    size_t len = (size_t)snprintf(why, sizeof why, "c: %s (%zu bytes)",
                                  match ? "equal" : "different", record->outputs.text.len);
    result->rationale = copy(text, (const uint8_t *)why, len);
    return VD_RC_OK;
}

static int32_t score_batch(const void *state, const vd_record *records, size_t n,
                           vd_buf *text, vd_result *results) {
    for (size_t i = 0; i < n; i++) score(state, &records[i], text, &results[i]);
    return VD_RC_OK;
}

static void destroy(void *state) { free(state); }

static size_t last_error(uint8_t *buf, size_t cap) {
    size_t len = strlen(last);
    memcpy(buf, last, len < cap ? len : cap);
    return len;
}

static const vd_config_key keys[1];

static const vd_descriptor descriptor = {
    VD_ABI_VERSION,
    sizeof(vd_descriptor),
    VD_FLAG_PANIC_UNWIND, /* never unwinds; not marked thread-safe */
    {(const uint8_t *)"c_exact_match", 13},
    {(const uint8_t *)"1.0.0", 5},
    {(const uint8_t *)"Exact match, written in C.", 26},
    keys,
    0,
    create,
    score,
    score_batch,
    destroy,
    last_error,
    1, /* min_abi_version: works with every host */
};

const vd_descriptor *verdict_plugin_v1(void) { return &descriptor; }
