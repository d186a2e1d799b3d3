/* A hostile scorer plugin written in C against include/verdict_plugin.h,
 * for the host's isolation tests. It scores exact match of the output
 * against "expected_response", except that on a record whose output is
 * "boom" it does what its config's mode says:
 *
 *   {"mode":"segfault"}        writes through a null pointer
 *   {"mode":"abort"}           calls abort()
 *   {"mode":"stack_overflow"}  recurses until its stack runs out
 *   {"mode":"loop"}            loops for ever
 *   {"mode":"exit"}            calls exit(0)
 *   {"mode":"hog"}             allocates and touches 16 MiB at a time until
 *                              malloc fails, then aborts
 *   {"mode":"nostate"}         (in create) returns success and no state
 *
 * Built with -DCTOR_EXIT or -DCTOR_CRASH, its library constructor calls
 * exit(0) or crashes as soon as the library is loaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verdict_plugin.h"

/* A null pointer the compiler cannot see is null, so that writing through
   it is compiled as a write, at any optimization level. */
static int *volatile nowhere;

#ifdef CTOR_EXIT
__attribute__((constructor)) static void init(void) { exit(0); }
#endif
#ifdef CTOR_CRASH
__attribute__((constructor)) static void init(void) { *nowhere = 1; }
#endif

enum mode { NONE, SEGFAULT, ABORT, STACK_OVERFLOW, LOOP, EXIT, HOG };

static const char *last = "";

static int has(vd_str config, const char *word) {
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= config.len; i++)
        if (memcmp(config.ptr + i, word, n) == 0) return 1;
    return 0;
}

static int32_t create(vd_str config, void **state) {
    static const struct { const char *word; enum mode mode; } modes[] = {
        {"\"segfault\"", SEGFAULT}, {"\"abort\"", ABORT},
        {"\"stack_overflow\"", STACK_OVERFLOW}, {"\"loop\"", LOOP},
        {"\"exit\"", EXIT}, {"\"hog\"", HOG},
    };
    if (has(config, "\"nostate\"")) {
        *state = NULL;
        return VD_RC_OK;
    }
    enum mode *mode = malloc(sizeof *mode);
    if (!mode) return VD_RC_ERROR;
    *mode = NONE;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (has(config, modes[i].word)) *mode = modes[i].mode;
    *state = mode;
    return VD_RC_OK;
}

static int eq(vd_str a, const uint8_t *b, size_t len) {
    return a.len == len && (len == 0 || memcmp(a.ptr, b, len) == 0);
}

static volatile int sink;

/* Deep enough for any stack: `sink` is never negative, which the
   compiler cannot know. */
static int recurse(int depth) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    if (sink < 0) return frame[0];
    return recurse(depth + 1) + frame[depth % 1024];
}

static void misbehave(enum mode mode) {
    switch (mode) {
    case SEGFAULT: *nowhere = 1; break;
    case ABORT: abort();
    case STACK_OVERFLOW: sink = recurse(0); break;
    case LOOP: for (;;) sink++;
    case EXIT: exit(0);
    case HOG:
        for (;;) {
            char *p = malloc(16u << 20);
            if (!p) abort();
            memset(p, 1, 16u << 20);
        }
    case NONE: break;
    }
}

static int32_t score(const void *state, const vd_record *record, vd_buf *text,
                     vd_result *result) {
    (void)text;
    if (eq(record->outputs.text, (const uint8_t *)"boom", 4)) misbehave(*(const enum mode *)state);
    const vd_value *expected = NULL;
    for (size_t i = 0; i < record->n_expectations; i++)
        if (eq(record->expectations[i].name, (const uint8_t *)"expected_response", 17))
            expected = &record->expectations[i].value;
    result->label.ptr = NULL;
    result->label.len = 0;
    result->rationale.ptr = NULL;
    result->rationale.len = 0;
    if (!expected) {
        result->status = VD_STATUS_ERROR;
        result->kind = 0;
        result->number = 0.0;
        result->label.ptr = (const uint8_t *)"MISSING_EXPECTATION";
        result->label.len = 19;
        return VD_RC_OK;
    }
    result->status = VD_STATUS_OK;
    result->kind = VD_KIND_BOOL;
    result->number = eq(record->outputs.text, expected->text.ptr, expected->text.len) ? 1.0 : 0.0;
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
    VD_FLAG_PANIC_UNWIND | VD_FLAG_THREAD_SAFE,
    {(const uint8_t *)"c_hostile", 9},
    {(const uint8_t *)"0.0.1", 5},
    {(const uint8_t *)"Exact match that crashes, hangs or exits on \"boom\".", 51},
    keys,
    0,
    create,
    score,
    score_batch,
    destroy,
    last_error,
    1,    /* min_abi_version: works with every host */
    NULL, /* score_batch_traced: reads no traces */
};

const vd_descriptor *verdict_plugin_v1(void) { return &descriptor; }
