/*
 * In-memory cache of one Kubernetes collection (an informer), fed by a
 * kube_watch.
 *
 * The cache maps namespace/name to a record that a caller-supplied
 * projection makes from each object, usually a small struct with only the
 * fields a hot path needs. Readers look records up concurrently under a
 * read lock and copy out what they need, so a lookup never waits for the
 * network, allocates nothing and takes O(1) time on average. Only the
 * watch thread writes.
 *
 * After a relist (on 410 Gone) the cache compares the new list with its
 * contents and reports objects that disappeared as deletions, so the
 * change callback sees every object go even when the DELETED event was
 * missed.
 */
#ifndef AZIDT_KUBE_CACHE_H
#define AZIDT_KUBE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"
#include "azidt/kube_client.h"
#include "azidt/kube_watch.h"

/*
 * Turn an object into the record to store, in new memory the cache owns
 * (freed with free_record). Return NULL to leave the object out of the
 * cache (as if it did not exist), for example when it lacks a label.
 * Runs on the watch thread without any cache lock held.
 */
typedef void *(*azidt_kube_cache_project_fn)(const cJSON *object, void *ctx);

typedef void (*azidt_kube_cache_free_fn)(void *record);

/*
 * Called on the watch thread after the cache changed, without any cache
 * lock held, so it may call lookups. old_record is NULL for
 * AZIDT_KUBE_ADDED, new_record is NULL for AZIDT_KUBE_DELETED. Both are
 * valid only during the call. namespace is "" for cluster-scoped objects.
 */
typedef void (*azidt_kube_cache_change_cb)(enum azidt_kube_event_type type,
                                           const char *namespace,
                                           const char *name,
                                           const void *old_record,
                                           const void *new_record, void *ctx);

/* Copies what the caller needs out of a record, under the read lock. It
 * must not call back into the cache. */
typedef void (*azidt_kube_cache_copy_fn)(const void *record, void *ctx);

struct azidt_kube_cache_options {
    /* Collection to watch; the strings are copied. */
    struct azidt_kube_watch_options watch;
    /* NULL stores a deep copy of each object (a cJSON *) and frees it
     * with cJSON_Delete; free_record is then ignored. */
    azidt_kube_cache_project_fn project;
    azidt_kube_cache_free_fn free_record;
    /* May be NULL. */
    azidt_kube_cache_change_cb change_cb;
    void *ctx;
};

struct azidt_kube_cache;

/* Create an empty cache without starting a watch (tests feed it with
 * azidt_kube_cache_apply and azidt_kube_cache_replace). */
azidt_err azidt_kube_cache_new(const struct azidt_kube_cache_options *opts,
                               struct azidt_kube_cache **out);

/* Start the watch that keeps the cache current. client must outlive the
 * cache. Call at most once. */
azidt_err azidt_kube_cache_start(struct azidt_kube_cache *cache,
                                 struct azidt_kube_client *client);

/*
 * Apply one watch event. Writers must be serialised: the watch thread is
 * the only writer once the cache is started.
 */
azidt_err azidt_kube_cache_apply(struct azidt_kube_cache *cache,
                                 enum azidt_kube_event_type type,
                                 const cJSON *object);

/* Replace the contents with a full list ("items" array) and report the
 * differences, then mark the cache synced. Same writer rule as apply. */
azidt_err azidt_kube_cache_replace(struct azidt_kube_cache *cache,
                                   const cJSON *items);

/* True once the first full list is in the cache. Thread-safe. */
bool azidt_kube_cache_has_synced(const struct azidt_kube_cache *cache);

/* Wait until the cache has synced or the deadline passes
 * (AZIDT_ERR_TIMEOUT). */
azidt_err azidt_kube_cache_wait_synced(struct azidt_kube_cache *cache,
                                       int64_t deadline_ms);

/*
 * Find namespace/name ("" or NULL namespace for cluster-scoped objects)
 * and call copy with its record under the read lock. Returns AZIDT_OK or
 * AZIDT_ERR_NOT_FOUND. Thread-safe; allocates nothing.
 */
azidt_err azidt_kube_cache_lookup(struct azidt_kube_cache *cache,
                                  const char *namespace, const char *name,
                                  azidt_kube_cache_copy_fn copy, void *ctx);

/* Number of records. Thread-safe. */
size_t azidt_kube_cache_count(struct azidt_kube_cache *cache);

/* Call visit for every record under the read lock, in no set order. visit
 * must not call back into the cache. */
typedef void (*azidt_kube_cache_visit_fn)(const char *namespace,
                                          const char *name, const void *record,
                                          void *ctx);

void azidt_kube_cache_foreach(struct azidt_kube_cache *cache,
                              azidt_kube_cache_visit_fn visit, void *ctx);

/* The cache's watch, NULL before azidt_kube_cache_start. */
struct azidt_kube_watch *
azidt_kube_cache_watch(const struct azidt_kube_cache *cache);

/* Stop the watch and free everything. NULL is a no-op. */
void azidt_kube_cache_free(struct azidt_kube_cache *cache);

#endif
