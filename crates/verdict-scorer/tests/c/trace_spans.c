/* A trace scorer written in C against include/verdict_plugin.h (version
 * 2): the number of spans of the record's trace, with a rationale naming
 * its root span, how many spans failed, and the sum of the spans'
 * "gen_ai.usage.output_tokens" (a JSON number). A record without a trace
 * is an error, MISSING_TRACE. Its score and score_batch fail if called:
 * a host must call score_batch_traced, and only it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict_plugin.h"

static vd_str str(const char *s) {
    vd_str out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static int eq(vd_str a, const char *b) {
    size_t len = strlen(b);
    return a.len == len && (len == 0 || memcmp(a.ptr, b, len) == 0);
}

static vd_str copy(vd_buf *buf, const char *text, size_t len) {
    vd_str out = {NULL, len};
    if (len <= buf->cap - buf->len) {
        memcpy(buf->ptr + buf->len, text, len);
        out.ptr = buf->ptr + buf->len;
        buf->len += len;
    }
    return out;
}

static const char *last = "";
static int state_token;

static int32_t create(vd_str config, void **state) {
    if (config.len > 2) {
        last = "c_trace_spans takes no settings";
        return VD_RC_ERROR;
    }
    *state = &state_token;
    return VD_RC_OK;
}

static int32_t untraced(const void *state, const vd_record *record, vd_buf *text,
                        vd_result *result) {
    (void)state, (void)record, (void)text, (void)result;
    last = "c_trace_spans was called without traces";
    return VD_RC_ERROR;
}

static int32_t untraced_batch(const void *state, const vd_record *records, size_t n,
                              vd_buf *text, vd_result *results) {
    (void)records, (void)n;
    return untraced(state, NULL, text, results);
}

static void score_one(const vd_trace *trace, vd_buf *text, vd_result *result) {
    result->number = 0.0;
    result->verdict = VD_VERDICT_NONE;
    if (!trace) {
        result->status = VD_STATUS_ERROR;
        result->kind = 0;
        result->label = str("MISSING_TRACE");
        result->rationale = str("the record has no trace");
        return;
    }
    const char *root = "(none)";
    size_t root_len = strlen(root), errors = 0;
    double tokens = 0.0;
    for (size_t i = 0; i < trace->n_spans; i++) {
        const vd_span *span = &trace->spans[i];
        static const uint8_t zero[8];
        if (memcmp(span->parent_span_id, zero, 8) == 0) {
            root = (const char *)span->name.ptr;
            root_len = span->name.len;
        }
        if (span->status_code == VD_SPAN_STATUS_ERROR) errors++;
        for (size_t j = 0; j < span->n_attributes; j++) {
            const vd_named_value *a = &span->attributes[j];
            if (eq(a->name, "gen_ai.usage.output_tokens") && a->value.kind == VD_VALUE_JSON) {
                char number[32] = {0};
                size_t len = a->value.text.len < 31 ? a->value.text.len : 31;
                memcpy(number, a->value.text.ptr, len);
                tokens += strtod(number, NULL);
            }
        }
    }
    char why[256];
    int len = snprintf(why, sizeof why, "root %.*s, %zu failed, %g output tokens",
                       (int)(root_len > 64 ? 64 : root_len), root, errors, tokens);
    result->status = VD_STATUS_OK;
    result->kind = VD_KIND_NUMBER;
    result->number = (double)trace->n_spans;
    result->rationale = copy(text, why, (size_t)len);
}

static int32_t score_batch_traced(const void *state, const vd_record *records,
                                  const vd_trace *const *traces, size_t n, vd_buf *text,
                                  vd_result *results) {
    (void)state, (void)records;
    for (size_t i = 0; i < n; i++) score_one(traces[i], text, &results[i]);
    return VD_RC_OK;
}

static void destroy(void *state) { (void)state; }

static size_t last_error(uint8_t *buf, size_t cap) {
    size_t len = strlen(last);
    memcpy(buf, last, len < cap ? len : cap);
    return len;
}

static const vd_descriptor descriptor = {
    .abi_version = VD_ABI_VERSION,
    .struct_size = sizeof(vd_descriptor),
    .flags = VD_FLAG_PANIC_UNWIND | VD_FLAG_THREAD_SAFE,
    .name = {(const uint8_t *)"c_trace_spans", 13},
    .version = {(const uint8_t *)"1.0.0", 5},
    .description = {(const uint8_t *)"Counts a trace's spans, written in C.", 37},
    .config_keys = NULL,
    .n_config_keys = 0,
    .create = create,
    .score = untraced,
    .score_batch = untraced_batch,
    .destroy = destroy,
    .last_error = last_error,
    .min_abi_version = VD_ABI_VERSION_TRACES,
    .score_batch_traced = score_batch_traced,
};

const vd_descriptor *verdict_plugin_v1(void) { return &descriptor; }
