/* A hostile scorer plugin written in C against include/verdict_plugin.h:
 * every call breaks one rule of the boundary, the one its config names
 * ({"mode": "<mode>"}). The host's tests compile it with the system C
 * compiler, load it, and check that each is recorded as an error and the
 * host goes on.
 *
 *   null_huge      a label given as {NULL, 1 TiB}: "too long, score again"
 *   static_huge    a rationale of 1 TiB at a static address
 *   len_backwards  text copied into the buffer, then the length set back
 *   len_past_cap   the buffer's length set past its capacity
 *   ptr_moved      the buffer pointed at the plugin's own array, text there
 *   last_error     the call fails, and last_error claims 1 TiB
 *   more_results   one result written past the n asked for
 *   more_on_rescore  a batch whose every text "did not fit", then, scoring
 *                  each record again alone, two results for the one asked
 *
 * A copy of the library named huge_descriptor has a descriptor whose
 * description is said to be a terabyte long.
 */
#include <stdlib.h>
#include <string.h>

#include "verdict_plugin.h"

enum mode {
    NULL_HUGE,
    STATIC_HUGE,
    LEN_BACKWARDS,
    LEN_PAST_CAP,
    PTR_MOVED,
    LAST_ERROR,
    MORE_RESULTS,
    MORE_ON_RESCORE,
};

static const char *const MODES[] = {
    "null_huge", "static_huge", "len_backwards", "len_past_cap",
    "ptr_moved", "last_error",  "more_results", "more_on_rescore",
};

#define TIB ((size_t)1 << 40)

static vd_str str(const char *s) {
    vd_str out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static int32_t create(vd_str config, void **state) {
    char text[256];
    size_t len = config.len < sizeof text - 1 ? config.len : sizeof text - 1;
    memcpy(text, config.ptr, len);
    text[len] = 0;
    for (size_t m = 0; m < sizeof MODES / sizeof MODES[0]; m++) {
        if (strstr(text, MODES[m])) {
            enum mode *mode = malloc(sizeof *mode);
            if (!mode) return VD_RC_ERROR;
            *mode = (enum mode)m;
            *state = mode;
            return VD_RC_OK;
        }
    }
    return VD_RC_ERROR;
}

/* A valid result: the bool true, with no rationale. */
static void valid(vd_result *result) {
    result->status = VD_STATUS_OK;
    result->kind = VD_KIND_BOOL;
    result->verdict = VD_VERDICT_NONE;
    result->number = 1.0;
    result->label.ptr = NULL;
    result->label.len = 0;
    result->rationale.ptr = NULL;
    result->rationale.len = 0;
}

static uint8_t own[64];

static void fill(enum mode mode, vd_buf *text, vd_result *result) {
    valid(result);
    switch (mode) {
    case NULL_HUGE:
        result->kind = VD_KIND_LABEL;
        result->label.ptr = NULL;
        result->label.len = TIB;
        break;
    case STATIC_HUGE:
        result->rationale = str("a short static text, said to be a terabyte");
        result->rationale.len = TIB;
        break;
    case LEN_BACKWARDS:
        memcpy(text->ptr + text->len, "abcdef", 6);
        result->rationale.ptr = text->ptr + text->len;
        result->rationale.len = 6;
        text->len += 6;
        text->len -= 6;
        break;
    case LEN_PAST_CAP: /* the length is moved once the texts are written */
        memcpy(text->ptr + text->len, "abc", 3);
        result->rationale.ptr = text->ptr + text->len;
        result->rationale.len = 3;
        text->len += 3;
        break;
    case PTR_MOVED:
        text->ptr = own;
        text->cap = sizeof own;
        text->len = 0;
        memcpy(own, "elsewhere", 9);
        result->rationale.ptr = own;
        result->rationale.len = 9;
        text->len = 9;
        break;
    case MORE_ON_RESCORE: /* in a batch; scored alone, see score() */
        result->rationale.ptr = NULL;
        result->rationale.len = 5;
        break;
    case LAST_ERROR:
    case MORE_RESULTS:
        break;
    }
}

static int32_t score(const void *state, const vd_record *record, vd_buf *text,
                     vd_result *result) {
    (void)record;
    enum mode mode = *(const enum mode *)state;
    if (mode == LAST_ERROR) return VD_RC_ERROR;
    if (mode == MORE_ON_RESCORE) {
        valid(result);
        valid(result + 1);
        return VD_RC_OK;
    }
    fill(mode, text, result);
    if (mode == LEN_PAST_CAP) text->len = text->cap + 4096;
    if (mode == MORE_RESULTS) valid(result + 1);
    return VD_RC_OK;
}

static int32_t score_batch(const void *state, const vd_record *records, size_t n,
                           vd_buf *text, vd_result *results) {
    (void)records;
    enum mode mode = *(const enum mode *)state;
    if (mode == LAST_ERROR) return VD_RC_ERROR;
    for (size_t i = 0; i < n; i++) fill(mode, text, &results[i]);
    if (mode == LEN_PAST_CAP) text->len = text->cap + 4096;
    if (mode == MORE_RESULTS) valid(&results[n]);
    return VD_RC_OK;
}

static void destroy(void *state) { free(state); }

/* The message is short; the length claimed is not. */
static size_t last_error(uint8_t *buf, size_t cap) {
    static const char message[] = "hostile: a message said to be a terabyte long";
    size_t len = sizeof message - 1;
    memcpy(buf, message, len < cap ? len : cap);
    return TIB;
}

#define TEXT(s) {(const uint8_t *)s, sizeof s - 1}

#define DESCRIPTOR(about)                                     \
    {                                                         \
        .abi_version = VD_ABI_VERSION,                        \
        .struct_size = sizeof(vd_descriptor),                 \
        .flags = VD_FLAG_PANIC_UNWIND | VD_FLAG_THREAD_SAFE,  \
        .name = TEXT("hostile"),                              \
        .version = TEXT("0.0.1"),                             \
        .description = about,                                 \
        .config_keys = NULL,                                  \
        .n_config_keys = 0,                                   \
        .create = create,                                     \
        .score = score,                                       \
        .score_batch = score_batch,                           \
        .destroy = destroy,                                   \
        .last_error = last_error,                             \
        .min_abi_version = 1,                                 \
    }

static const vd_descriptor descriptor =
    DESCRIPTOR(TEXT("Breaks a rule of the boundary on purpose."));

const vd_descriptor *verdict_plugin_v1(void) { return &descriptor; }

/* The entry point of a copy of this library named huge_descriptor: a
   description said to be a terabyte long. */
static const vd_descriptor huge = DESCRIPTOR(((vd_str){(const uint8_t *)"huge", TIB}));

const vd_descriptor *verdict_plugin_v1_huge_descriptor(void) { return &huge; }
