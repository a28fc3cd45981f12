/*
 * Watch a Kubernetes collection on a thread of its own.
 *
 * The watch lists the collection (in pages), then watches from the list's
 * resourceVersion with bookmarks on. When the server ends the watch (its
 * timeoutSeconds, a restart, a dropped connection) it resumes from the
 * last resourceVersion it saw; when that version is too old (HTTP 410 or
 * an ERROR event with code 410) it lists again. Errors back off
 * exponentially from 500 ms to 30 s.
 *
 * Callbacks run on the watch thread, one at a time, and must not call
 * azidt_kube_watch_stop. The cJSON objects they receive belong to the
 * watch and are valid only during the call.
 */
#ifndef AZIDT_KUBE_WATCH_H
#define AZIDT_KUBE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"
#include "azidt/kube_client.h"

/* Maximum length of a watch event line. An object is at most about 1.5 MiB
 * in etcd; a longer line means a broken stream, and the watch
 * reconnects. */
#define AZIDT_KUBE_WATCH_LINE_MAX (8 * 1024 * 1024)

enum azidt_kube_event_type {
    AZIDT_KUBE_ADDED,
    AZIDT_KUBE_MODIFIED,
    AZIDT_KUBE_DELETED,
};

/* Name of an event type as the API writes it ("ADDED", ...). */
const char *azidt_kube_event_type_name(enum azidt_kube_event_type type);

/* --- Newline-delimited JSON splitting ---------------------------------- */

/* Splits a byte stream into lines; a line may span many chunks. */
struct azidt_ndjson {
    char *buf;
    size_t len;
    size_t cap;
    size_t max_line;
    /* Set once a line exceeded max_line; the splitter then rejects input
     * until azidt_ndjson_reset. */
    bool overflow;
};

/* Receives one complete line without its '\n' (and without a trailing
 * '\r'), NUL-terminated. Returns false to stop feeding. */
typedef bool (*azidt_ndjson_line_cb)(char *line, size_t len, void *ctx);

void azidt_ndjson_init(struct azidt_ndjson *s, size_t max_line);

/*
 * Append a chunk and call line_cb for every line it completes. Empty lines
 * are skipped. Returns AZIDT_ERR_INVALID when a line exceeds max_line,
 * AZIDT_ERR_INTERNAL when line_cb returned false, AZIDT_ERR_NOMEM.
 */
azidt_err azidt_ndjson_feed(struct azidt_ndjson *s, const char *data,
                            size_t len, azidt_ndjson_line_cb line_cb,
                            void *ctx);

/* Drop any partial line (after a reconnect). */
void azidt_ndjson_reset(struct azidt_ndjson *s);

void azidt_ndjson_free(struct azidt_ndjson *s);

/* --- Watch ------------------------------------------------------------- */

struct azidt_kube_watch_handlers {
    /*
     * Called after every list (the first one and each relist after 410)
     * with the whole "items" array: the complete state at list_rv. When
     * NULL, the watch instead sends each item to event_cb as
     * AZIDT_KUBE_ADDED, and objects deleted while the watch was
     * disconnected are not reported; use azidt_kube_cache for that.
     */
    void (*list_cb)(const cJSON *items, const char *list_rv, void *ctx);
    /* Called for each ADDED, MODIFIED and DELETED watch event. */
    void (*event_cb)(enum azidt_kube_event_type type, const cJSON *object,
                     void *ctx);
    /* Called once, after the first list has been delivered. */
    void (*synced_cb)(void *ctx);
    void *ctx;
};

struct azidt_kube_watch_options {
    const struct azidt_kube_resource *resource;
    /* NULL watches every namespace. */
    const char *namespace;
    const char *label_selector;
    const char *field_selector;
    /* Server-side watch length in seconds before a resume; 0 means 300. */
    long timeout_seconds;
    /* Page size of the list; 0 means 500. */
    long list_limit;
    /* Skip the first list and watch from this resourceVersion, for a
     * caller that restored its state elsewhere; the watch counts as synced
     * at once. NULL lists first. A version that is too old leads to a list
     * as usual. */
    const char *start_resource_version;
};

struct azidt_kube_watch;

/*
 * Start the watch thread. The options' strings are copied. client must
 * outlive the watch. Returns AZIDT_ERR_INVALID for missing options,
 * AZIDT_ERR_NOMEM, or AZIDT_ERR_INTERNAL when the thread cannot start.
 */
azidt_err azidt_kube_watch_start(struct azidt_kube_client *client,
                                 const struct azidt_kube_watch_options *opts,
                                 const struct azidt_kube_watch_handlers *h,
                                 struct azidt_kube_watch **out);

/* True once the first list has been delivered. Thread-safe. */
bool azidt_kube_watch_has_synced(const struct azidt_kube_watch *watch);

/* Number of lists done (1 after the first list, 2 after a relist, ...).
 * Thread-safe; tests and metrics read it. */
unsigned long azidt_kube_watch_list_count(const struct azidt_kube_watch *w);

/* Number of watch requests started, counting resumes. Thread-safe. */
unsigned long azidt_kube_watch_watch_count(const struct azidt_kube_watch *w);

/*
 * Stop the thread (within about a second: a running request is aborted),
 * join it and free the watch. No callback runs after it returns. NULL is a
 * no-op. Must not be called from a callback.
 */
void azidt_kube_watch_stop(struct azidt_kube_watch *watch);

#endif
