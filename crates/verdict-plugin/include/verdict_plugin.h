/*
 * verdict_plugin.h — the Verdict scorer plugin ABI, version 1.
 *
 * A plugin is a dynamic library exporting one symbol,
 *
 *     const vd_descriptor *verdict_plugin_v1(void);
 *
 * which returns a static descriptor: who the scorer is and its functions.
 * This header is the C form of crates/verdict-plugin/src/abi.rs; a test
 * compiles a C plugin against it, so the two cannot drift.
 *
 * Rules of the boundary:
 *  - The host passes text as UTF-8 byte slices (vd_str), valid only during
 *    the call. They are not NUL-terminated.
 *  - The plugin writes results into host-owned vd_result slots; text goes
 *    into host-provided buffers (vd_buf): copy at most `cap` bytes, and set
 *    `len` to the full length, so the host sees text that did not fit and
 *    asks again with a larger buffer. Text in the plugin's static memory
 *    (string literals) may instead be pointed at, in label_static or
 *    rationale_static with the matching flag: the host never unloads a
 *    plugin, so it stays valid. Nothing allocated on one side is freed on
 *    the other.
 *  - No function may unwind or longjmp across the boundary. Set
 *    VD_FLAG_PANIC_UNWIND only if every exported function contains its
 *    failures (a C plugin that never aborts may set it).
 *  - With VD_FLAG_THREAD_SAFE, score and score_batch may run on several
 *    threads at once with the same state.
 *  - Fields are only ever appended to vd_descriptor; the host reads
 *    abi_version and struct_size before anything else.
 */
#ifndef VERDICT_PLUGIN_H
#define VERDICT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VD_ABI_VERSION 1u
#define VD_SYMBOL "verdict_plugin_v1"

/* vd_descriptor.flags */
#define VD_FLAG_PANIC_UNWIND ((uint64_t)1)
#define VD_FLAG_THREAD_SAFE ((uint64_t)2)

/* return codes; on VD_RC_ERROR and VD_RC_PANIC, last_error has the message */
#define VD_RC_OK 0
#define VD_RC_ERROR 1
#define VD_RC_PANIC 2

/* vd_value.kind */
#define VD_VALUE_NULL 0u   /* no value */
#define VD_VALUE_STRING 1u /* text is the string itself */
#define VD_VALUE_JSON 2u   /* text is JSON: a number, bool, list or object */

/* vd_result.status */
#define VD_STATUS_OK 0u    /* scored: see kind */
#define VD_STATUS_ERROR 1u /* label = error code, rationale = message */
#define VD_STATUS_PANIC 2u /* rationale = panic message */

/* vd_result.kind, with VD_STATUS_OK */
#define VD_KIND_BOOL 1u   /* number is 0 or 1 */
#define VD_KIND_NUMBER 2u /* number is the score; it must be finite */
#define VD_KIND_LABEL 3u  /* label is the label */

/* vd_result.flags */
#define VD_RESULT_HAS_RATIONALE 1u   /* in rationale, or in rationale_static */
#define VD_RESULT_LABEL_STATIC 2u    /* the label is label_static, not label */
#define VD_RESULT_RATIONALE_STATIC 4u /* the rationale is rationale_static */

typedef struct vd_str {
    const uint8_t *ptr;
    size_t len;
} vd_str;

typedef struct vd_value {
    uint32_t kind;
    vd_str text;
} vd_value;

typedef struct vd_named_value {
    vd_str name;
    vd_value value;
} vd_named_value;

typedef struct vd_record {
    vd_value inputs;
    vd_value outputs;
    const vd_named_value *expectations;
    size_t n_expectations;
} vd_record;

typedef struct vd_buf {
    uint8_t *ptr;
    size_t cap;
    size_t len; /* set by the plugin: the full length of its text */
} vd_buf;

typedef struct vd_result {
    uint32_t status;
    uint32_t kind;
    uint32_t flags;
    uint32_t reserved; /* 0 */
    double number;
    vd_buf label;
    vd_buf rationale;
    vd_str label_static;     /* with VD_RESULT_LABEL_STATIC */
    vd_str rationale_static; /* with VD_RESULT_RATIONALE_STATIC */
} vd_result;

typedef struct vd_config_key {
    vd_str name;
    vd_str kind;          /* "string", "bool", "number", "one of: a, b"... */
    vd_str default_value; /* in words; empty when none */
    vd_str description;
} vd_config_key;

typedef struct vd_descriptor {
    uint32_t abi_version; /* VD_ABI_VERSION */
    uint32_t struct_size; /* sizeof(vd_descriptor) */
    uint64_t flags;
    vd_str name;
    vd_str version;
    vd_str description;
    const vd_config_key *config_keys;
    size_t n_config_keys;
    /* config is a JSON object, or empty for the defaults */
    int32_t (*create)(vd_str config, void **state);
    int32_t (*score)(const void *state, const vd_record *record, vd_result *result);
    int32_t (*score_batch)(const void *state, const vd_record *records, size_t n,
                           vd_result *results);
    void (*destroy)(void *state);
    /* copies this thread's last error message (at most cap bytes), returns its length */
    size_t (*last_error)(uint8_t *buf, size_t cap);
} vd_descriptor;

typedef const vd_descriptor *(*vd_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* VERDICT_PLUGIN_H */
