/*
 * verdict_plugin.h — the Verdict scorer plugin ABI, version 2.
 *
 * A plugin is a dynamic library exporting an entry point that returns a
 * static descriptor: who the scorer is and its functions.
 *
 *     const vd_descriptor *verdict_plugin_v1_<scorer>(void);
 *     const vd_descriptor *verdict_plugin_v1(void);
 *
 * As SQLite looks for sqlite3_<name>_init, the host first looks for the
 * entry point of the scorer the file is named for: the file name without
 * the platform's library prefix ("lib" on Unix), everything from its first
 * ".", and a leading "verdict_" or "verdict-", each "-" read as "_"
 * (libverdict_exact_match.so and libexact_match.so: exact_match). Failing
 * that, it takes the generic verdict_plugin_v1. The named one lets several
 * plugins be linked into one program; the generic one lets the file be
 * renamed. Export either, or both.
 *
 * This header is the C form of crates/verdict-plugin/src/abi.rs; a test
 * compiles C plugins against it, so the two cannot drift.
 *
 * Versions. vd_descriptor only grows: a field keeps its place, type and
 * meaning in every version, and new fields go after the last one. The host
 * reads abi_version and struct_size first, then only the fields struct_size
 * covers (the others take the default written beside them), and ignores
 * fields past those it knows. The fields up to last_error are required
 * (VD_DESCRIPTOR_MIN_SIZE). A host of version H loads a plugin whose
 * min_abi_version is at most H, and refuses any other, naming the version
 * it needs: a newer host loads every older plugin, an older host every
 * newer plugin that asks nothing new of it. Entry points keep their names.
 *
 * Rules of the boundary:
 *  - The host passes text as UTF-8 byte slices (vd_str), valid only during
 *    the call. They are not NUL-terminated.
 *  - The plugin writes exactly one vd_result per record into host memory,
 *    never one more. Its texts (label, rationale) point either at the
 *    plugin's static memory (string literals: the host never unloads a
 *    plugin) or at a copy the plugin appends to the call's one text buffer
 *    (vd_buf): write at ptr + len, then add the length to len, never past
 *    cap; ptr and cap stay as the host set them. A text that does not fit
 *    in what is left is written as {NULL, its length}: the host then scores
 *    that record again, alone, with a buffer large enough. An absent
 *    rationale is {NULL, 0}. No text is longer than VD_TEXT_LIMIT. Nothing
 *    allocated on one side is freed on the other.
 *  - The host checks every result and copies its texts, static ones too (a
 *    plugin that rewrites them later changes nothing kept), except as
 *    VD_FLAG_VALID_RESULTS says. Lengths are checked before anything is
 *    read or allocated. A result it cannot keep is an error for its record;
 *    a vd_buf whose ptr or cap changed or whose len passes cap, or a result
 *    written after the n asked for, an error for every record of the call.
 *    It reads at most VD_LAST_ERROR_LIMIT bytes of a message, whatever
 *    length last_error returns.
 *  - What the host cannot check in its own process: a pointer to memory
 *    that is not mapped, writes past the memory it handed over (results
 *    past the one after the n asked for, text past cap), a crash, a hang or
 *    an exit. Only running the plugin in a process of its own protects
 *    against those.
 *  - Where a plugin runs. The verdict program loads a plugin file that is
 *    not built in only in worker processes of its own (one per scoring
 *    thread), never in its own process, unless the user marks the plugin
 *    trusted. A crash, an exit or a signal in a worker, a batch over its
 *    time limit, or a worker out of its memory limit gives that batch's
 *    records an error (SCORER_CRASHED, SCORER_TIMEOUT, SCORER_OOM), a new
 *    worker takes the next batch, and the run goes on; the same while the
 *    file is read (its constructors run in a worker too). A plugin is
 *    written the same either way; in a worker, its standard input reads
 *    nothing and what it prints goes to standard error.
 *  - No function may unwind or longjmp across the boundary. Set
 *    VD_FLAG_PANIC_UNWIND only if every exported function contains its
 *    failures (a C plugin that never aborts may set it).
 *  - With VD_FLAG_THREAD_SAFE, score and score_batch may run on several
 *    threads at once with the same state.
 *
 * Traces (version 2). A plugin that reads each record's trace sets
 * score_batch_traced (and min_abi_version to VD_ABI_VERSION_TRACES, so
 * that an older host refuses it rather than score it without traces).
 * The host then calls score_batch_traced for every call, a record alone
 * included, with one trace pointer per record (NULL: the record has no
 * trace, which a trace scorer reports as an error, never a pass), and
 * never calls its score or score_batch. The traces are borrowed as the
 * records are. The host builds them for such plugins only: the others
 * are called as in version 1 and pay nothing for traces.
 */
#ifndef VERDICT_PLUGIN_H
#define VERDICT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VD_ABI_VERSION 2u
/* the version that added traces: the min_abi_version of a plugin reading them */
#define VD_ABI_VERSION_TRACES 2u
/* the generic entry point; a scorer's own is VD_SYMBOL "_" <scorer> */
#define VD_SYMBOL "verdict_plugin_v1"

/* the most bytes one text of a result may hold (64 MiB) */
#define VD_TEXT_LIMIT ((size_t)64 << 20)
/* the most bytes of a last_error message the host reads (64 KiB) */
#define VD_LAST_ERROR_LIMIT ((size_t)64 << 10)

/* vd_descriptor.flags */
#define VD_FLAG_PANIC_UNWIND ((uint64_t)1)
#define VD_FLAG_THREAD_SAFE ((uint64_t)2)
/* the plugin vouches for its results (every slot written, known status,
   kind and verdict, finite number, bool 0 or 1, UTF-8 text within
   VD_TEXT_LIMIT, static and never rewritten, or within what it wrote): the
   host then checks only where the text of a call that copied some lies,
   and keeps static text by reference, uncopied. A plugin that sets it and
   lies makes the host read what it points at. Without it, the host checks
   every slot and copies static text. */
#define VD_FLAG_VALID_RESULTS ((uint64_t)4)

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

/* vd_result.verdict, with VD_KIND_NUMBER or VD_KIND_LABEL: the value by the
   scorer's own criterion (a threshold in its config). Unread with
   VD_KIND_BOOL (the bool is the verdict). The host sets VD_VERDICT_NONE
   before each call. */
#define VD_VERDICT_NONE 0u /* no criterion of its own */
#define VD_VERDICT_PASS 1u
#define VD_VERDICT_FAIL 2u

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

/* vd_span.kind: OpenTelemetry's span kinds, numbered as in OTLP */
#define VD_SPAN_KIND_UNSPECIFIED 0u
#define VD_SPAN_KIND_INTERNAL 1u
#define VD_SPAN_KIND_SERVER 2u
#define VD_SPAN_KIND_CLIENT 3u
#define VD_SPAN_KIND_PRODUCER 4u
#define VD_SPAN_KIND_CONSUMER 5u

/* vd_span.status_code, numbered as in OTLP */
#define VD_SPAN_STATUS_UNSET 0u
#define VD_SPAN_STATUS_OK 1u
#define VD_SPAN_STATUS_ERROR 2u

/* Attributes are vd_named_values: a string as VD_VALUE_STRING, any other
   value (an int, a double, a bool, a list) as its JSON text. */
typedef struct vd_event {
    vd_str name;
    uint64_t time_unix_nano;
    const vd_named_value *attributes;
    size_t n_attributes;
} vd_event;

typedef struct vd_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8]; /* all zeros: a root span */
    vd_str name;
    uint32_t kind;        /* VD_SPAN_KIND_* */
    uint32_t status_code; /* VD_SPAN_STATUS_* */
    vd_str status_message;
    uint64_t start_time_unix_nano;
    uint64_t end_time_unix_nano;
    const vd_named_value *attributes;
    size_t n_attributes;
    const vd_event *events;
    size_t n_events;
} vd_span;

/* the spans of one record's trace, in no particular order */
typedef struct vd_trace {
    const vd_span *spans;
    size_t n_spans;
} vd_trace;

/* the text buffer of one call: append at ptr + len, never past cap */
typedef struct vd_buf {
    uint8_t *ptr; /* the host's: never changed by the plugin */
    size_t cap;   /* likewise */
    size_t len;   /* advanced by the plugin past the text it appended, up to cap */
} vd_buf;

/* 48 bytes on 64-bit targets */
typedef struct vd_result {
    uint32_t status;
    uint16_t kind;
    uint16_t verdict; /* VD_VERDICT_*: pass or fail by the scorer's own criterion */
    double number;    /* the number, or the bool as 0 or 1 */
    vd_str label;     /* the label or error code (else unread): static, or in the buffer */
    vd_str rationale; /* the rationale or message, likewise; {NULL, 0} if none */
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
    int32_t (*score)(const void *state, const vd_record *record, vd_buf *text,
                     vd_result *result);
    int32_t (*score_batch)(const void *state, const vd_record *records, size_t n,
                           vd_buf *text, vd_result *results);
    void (*destroy)(void *state);
    /* copies this thread's last error message (at most cap bytes), returns its length */
    size_t (*last_error)(uint8_t *buf, size_t cap);
    /* the fields above are required; each one below has a default */

    /* the oldest host ABI version the plugin works with; 1 unless it relies
       on what a later version added. Default (absent, or 0): abi_version. */
    uint32_t min_abi_version;

    /* version 2: set only by a plugin that reads traces (see above);
       traces[i] is record i's trace, or NULL. Default (absent, or NULL):
       the plugin does not read traces. */
    int32_t (*score_batch_traced)(const void *state, const vd_record *records,
                                  const vd_trace *const *traces, size_t n,
                                  vd_buf *text, vd_result *results);
} vd_descriptor;

/* the smallest struct_size a host accepts */
#define VD_DESCRIPTOR_MIN_SIZE offsetof(vd_descriptor, min_abi_version)

typedef const vd_descriptor *(*vd_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* VERDICT_PLUGIN_H */
