#include "azidt/kube_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/clock.h"
#include "azidt/log.h"

#define BUCKETS_MIN 64

struct entry {
    struct entry *next;
    uint64_t hash;
    /* namespace and name point into key: "<namespace>\0<name>\0". */
    const char *namespace;
    const char *name;
    char *resource_version;
    void *record;
    char key[];
};

struct table {
    struct entry **buckets;
    size_t nbuckets;
    size_t count;
};

struct azidt_kube_cache {
    struct azidt_kube_watch_options watch_opts;
    struct azidt_kube_resource resource;
    char *group;
    char *version;
    char *plural;
    char *namespace;
    char *label_selector;
    char *field_selector;
    azidt_kube_cache_project_fn project;
    azidt_kube_cache_free_fn free_record;
    azidt_kube_cache_change_cb change_cb;
    void *ctx;

    pthread_rwlock_t lock;
    struct table table;

    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    atomic_bool synced;

    struct azidt_kube_watch *watch;
};

/* FNV-1a over namespace, a NUL separator and name, so that no key string
 * has to be built for a lookup. */
static uint64_t hash_key(const char *namespace, const char *name)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *p = (const unsigned char *)namespace; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static void *project_copy(const cJSON *object, void *ctx)
{
    (void)ctx;
    return cJSON_Duplicate(object, true);
}

static void free_json(void *record)
{
    cJSON_Delete(record);
}

static void entry_free(struct azidt_kube_cache *c, struct entry *e)
{
    if (!e)
        return;
    if (e->record)
        c->free_record(e->record);
    free(e->resource_version);
    free(e);
}

static struct entry *entry_new(const char *namespace, const char *name,
                               const char *rv)
{
    size_t ns_len = strlen(namespace);
    size_t name_len = strlen(name);
    struct entry *e = calloc(1, sizeof(*e) + ns_len + name_len + 2);

    if (!e)
        return NULL;
    memcpy(e->key, namespace, ns_len + 1);
    memcpy(e->key + ns_len + 1, name, name_len + 1);
    e->namespace = e->key;
    e->name = e->key + ns_len + 1;
    e->hash = hash_key(namespace, name);
    if (rv && !(e->resource_version = strdup(rv))) {
        free(e);
        return NULL;
    }
    return e;
}

static bool table_init(struct table *t, size_t nbuckets)
{
    t->buckets = calloc(nbuckets, sizeof(*t->buckets));
    t->nbuckets = t->buckets ? nbuckets : 0;
    t->count = 0;
    return t->buckets != NULL;
}

static struct entry **table_slot(struct table *t, const char *namespace,
                                 const char *name, uint64_t hash)
{
    struct entry **slot = &t->buckets[hash & (t->nbuckets - 1)];

    for (; *slot; slot = &(*slot)->next) {
        if ((*slot)->hash == hash && strcmp((*slot)->name, name) == 0 &&
            strcmp((*slot)->namespace, namespace) == 0)
            break;
    }
    return slot;
}

/* Double the bucket array when the load factor passes 1. A failed
 * allocation keeps the old array: lookups get slower, not wrong. */
static void table_grow(struct table *t)
{
    struct entry **nb;
    size_t n = t->nbuckets * 2;

    if (t->count < t->nbuckets)
        return;
    nb = calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct entry *e = t->buckets[i];

        while (e) {
            struct entry *next = e->next;

            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

static void table_insert(struct table *t, struct entry *e)
{
    struct entry **slot = &t->buckets[e->hash & (t->nbuckets - 1)];

    e->next = *slot;
    *slot = e;
    t->count++;
    table_grow(t);
}

static void table_free(struct azidt_kube_cache *c, struct table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct entry *e = t->buckets[i];

        while (e) {
            struct entry *next = e->next;

            entry_free(c, e);
            e = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Make an entry (with its record, or none when the projection skips the
 * object) from an object. Returns NULL and sets *rc on failure. */
static struct entry *entry_from_object(struct azidt_kube_cache *c,
                                       const cJSON *object, azidt_err *rc)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const char *name = json_str(meta, "name");
    const char *namespace = json_str(meta, "namespace");
    struct entry *e;

    *rc = AZIDT_OK;
    if (!name || !*name) {
        *rc = AZIDT_ERR_INVALID;
        return NULL;
    }
    e = entry_new(namespace ? namespace : "", name,
                  json_str(meta, "resourceVersion"));
    if (!e) {
        *rc = AZIDT_ERR_NOMEM;
        return NULL;
    }
    e->record = c->project(object, c->ctx);
    return e;
}

static void notify(struct azidt_kube_cache *c, enum azidt_kube_event_type t,
                   const char *namespace, const char *name, const void *old,
                   const void *new)
{
    if (c->change_cb)
        c->change_cb(t, namespace, name, old, new, c->ctx);
}

azidt_err azidt_kube_cache_apply(struct azidt_kube_cache *c,
                                 enum azidt_kube_event_type type,
                                 const cJSON *object)
{
    struct entry *fresh = NULL;
    struct entry *old = NULL;
    struct entry **slot;
    azidt_err rc;

    fresh = entry_from_object(c, object, &rc);
    if (!fresh)
        return rc;
    if (type == AZIDT_KUBE_DELETED || !fresh->record) {
        /* A projection that skips the object means "not in the cache". */
        void *skipped = fresh->record;

        fresh->record = NULL;
        if (skipped)
            c->free_record(skipped);
    }
    pthread_rwlock_wrlock(&c->lock);
    slot = table_slot(&c->table, fresh->namespace, fresh->name, fresh->hash);
    old = *slot;
    if (old) {
        *slot = old->next;
        old->next = NULL;
        c->table.count--;
    }
    if (fresh->record)
        table_insert(&c->table, fresh);
    pthread_rwlock_unlock(&c->lock);

    /* Only this thread writes, so fresh stays valid during the callback. */
    if (fresh->record)
        notify(c, old ? AZIDT_KUBE_MODIFIED : AZIDT_KUBE_ADDED,
               fresh->namespace, fresh->name, old ? old->record : NULL,
               fresh->record);
    else if (old)
        notify(c, AZIDT_KUBE_DELETED, old->namespace, old->name, old->record,
               NULL);
    if (!fresh->record)
        entry_free(c, fresh);
    entry_free(c, old);
    return AZIDT_OK;
}

static bool same_version(const struct entry *a, const struct entry *b)
{
    return a->resource_version && b->resource_version &&
           strcmp(a->resource_version, b->resource_version) == 0;
}

azidt_err azidt_kube_cache_replace(struct azidt_kube_cache *c,
                                   const cJSON *items)
{
    struct table fresh = {0};
    struct table old;
    const cJSON *item;
    size_t n = BUCKETS_MIN;
    azidt_err rc = AZIDT_OK;

    while (n < (size_t)cJSON_GetArraySize(items))
        n *= 2;
    if (!table_init(&fresh, n))
        return AZIDT_ERR_NOMEM;
    cJSON_ArrayForEach(item, items)
    {
        struct entry *e = entry_from_object(c, item, &rc);
        struct entry **slot;

        if (!e) {
            if (rc == AZIDT_ERR_NOMEM)
                goto fail;
            rc = AZIDT_OK;
            continue;
        }
        slot = table_slot(&fresh, e->namespace, e->name, e->hash);
        if (!e->record || *slot) {
            entry_free(c, e);
            continue;
        }
        table_insert(&fresh, e);
    }

    pthread_rwlock_wrlock(&c->lock);
    old = c->table;
    c->table = fresh;
    pthread_rwlock_unlock(&c->lock);

    /* Report the differences; old is private now, the new table is only
     * changed by this thread. */
    for (size_t i = 0; i < fresh.nbuckets; i++) {
        for (struct entry *e = fresh.buckets[i]; e; e = e->next) {
            struct entry *prev =
                *table_slot(&old, e->namespace, e->name, e->hash);

            if (!prev)
                notify(c, AZIDT_KUBE_ADDED, e->namespace, e->name, NULL,
                       e->record);
            else if (!same_version(prev, e))
                notify(c, AZIDT_KUBE_MODIFIED, e->namespace, e->name,
                       prev->record, e->record);
        }
    }
    for (size_t i = 0; i < old.nbuckets; i++) {
        for (struct entry *e = old.buckets[i]; e; e = e->next) {
            if (!*table_slot(&fresh, e->namespace, e->name, e->hash))
                notify(c, AZIDT_KUBE_DELETED, e->namespace, e->name, e->record,
                       NULL);
        }
    }
    table_free(c, &old);

    pthread_mutex_lock(&c->sync_lock);
    atomic_store(&c->synced, true);
    pthread_cond_broadcast(&c->sync_cond);
    pthread_mutex_unlock(&c->sync_lock);
    return AZIDT_OK;
fail:
    table_free(c, &fresh);
    return rc;
}

bool azidt_kube_cache_has_synced(const struct azidt_kube_cache *c)
{
    return atomic_load(&((struct azidt_kube_cache *)c)->synced);
}

azidt_err azidt_kube_cache_wait_synced(struct azidt_kube_cache *c,
                                       int64_t deadline_ms)
{
    azidt_err rc = AZIDT_OK;

    pthread_mutex_lock(&c->sync_lock);
    while (!atomic_load(&c->synced)) {
        int64_t left = azidt_deadline_remaining(deadline_ms);
        struct timespec ts;

        if (left <= 0) {
            rc = AZIDT_ERR_TIMEOUT;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->sync_cond, &c->sync_lock, &ts);
    }
    pthread_mutex_unlock(&c->sync_lock);
    return rc;
}

azidt_err azidt_kube_cache_lookup(struct azidt_kube_cache *c,
                                  const char *namespace, const char *name,
                                  azidt_kube_cache_copy_fn copy, void *ctx)
{
    struct entry *e;
    uint64_t hash;

    if (!name)
        return AZIDT_ERR_NOT_FOUND;
    if (!namespace)
    namespace = "";
    hash = hash_key(namespace, name);
    pthread_rwlock_rdlock(&c->lock);
    e = *table_slot(&c->table, namespace, name, hash);
    if (e && copy)
        copy(e->record, ctx);
    pthread_rwlock_unlock(&c->lock);
    return e ? AZIDT_OK : AZIDT_ERR_NOT_FOUND;
}

size_t azidt_kube_cache_count(struct azidt_kube_cache *c)
{
    size_t n;

    pthread_rwlock_rdlock(&c->lock);
    n = c->table.count;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

void azidt_kube_cache_foreach(struct azidt_kube_cache *c,
                              azidt_kube_cache_visit_fn visit, void *ctx)
{
    pthread_rwlock_rdlock(&c->lock);
    for (size_t i = 0; i < c->table.nbuckets; i++)
        for (struct entry *e = c->table.buckets[i]; e; e = e->next)
            visit(e->namespace, e->name, e->record, ctx);
    pthread_rwlock_unlock(&c->lock);
}

struct azidt_kube_watch *
azidt_kube_cache_watch(const struct azidt_kube_cache *c)
{
    return c->watch;
}

/* Let a waiting writer in before new readers. glibc's default prefers
 * readers, so steady lookups (pod admission on every HTTP thread) could
 * keep the watch thread from ever applying an event. Lookups and visits
 * never take the lock twice, which this kind requires. */
static void rwlock_init_writer_first(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

static bool dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return true;
    *dst = strdup(src);
    return *dst != NULL;
}

azidt_err azidt_kube_cache_new(const struct azidt_kube_cache_options *opts,
                               struct azidt_kube_cache **out)
{
    const struct azidt_kube_resource *res = opts ? opts->watch.resource : NULL;
    struct azidt_kube_cache *c = NULL;
    pthread_condattr_t attr;

    *out = NULL;
    if (!res || !res->version || !res->plural)
        return AZIDT_ERR_INVALID;
    c = calloc(1, sizeof(*c));
    if (!c)
        return AZIDT_ERR_NOMEM;
    rwlock_init_writer_first(&c->lock);
    pthread_mutex_init(&c->sync_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->sync_cond, &attr);
    pthread_condattr_destroy(&attr);
    c->project = opts->project ? opts->project : project_copy;
    c->free_record = opts->project ? opts->free_record : free_json;
    if (!c->free_record)
        c->free_record = free;
    c->change_cb = opts->change_cb;
    c->ctx = opts->ctx;
    c->watch_opts = opts->watch;
    if (!table_init(&c->table, BUCKETS_MIN) ||
        !dup_opt(&c->group, res->group ? res->group : "") ||
        !dup_opt(&c->version, res->version) ||
        !dup_opt(&c->plural, res->plural) ||
        !dup_opt(&c->namespace, opts->watch.namespace) ||
        !dup_opt(&c->label_selector, opts->watch.label_selector) ||
        !dup_opt(&c->field_selector, opts->watch.field_selector)) {
        azidt_kube_cache_free(c);
        return AZIDT_ERR_NOMEM;
    }
    c->resource = (struct azidt_kube_resource){c->group, c->version, c->plural,
                                               res->namespaced};
    c->watch_opts.resource = &c->resource;
    c->watch_opts.namespace = c->namespace;
    c->watch_opts.label_selector = c->label_selector;
    c->watch_opts.field_selector = c->field_selector;
    /* The cache needs the full list to know what exists. */
    c->watch_opts.start_resource_version = NULL;
    *out = c;
    return AZIDT_OK;
}

static void on_list(const cJSON *items, const char *list_rv, void *ctx)
{
    struct azidt_kube_cache *c = ctx;
    azidt_err rc = azidt_kube_cache_replace(c, items);

    if (rc)
        AZIDT_LOG_ERROR("kubernetes cache could not store the list", "resource",
                        c->plural, "resourceVersion", list_rv, "error",
                        azidt_err_name(rc));
}

static void on_event(enum azidt_kube_event_type type, const cJSON *object,
                     void *ctx)
{
    struct azidt_kube_cache *c = ctx;
    azidt_err rc = azidt_kube_cache_apply(c, type, object);

    if (rc)
        AZIDT_LOG_ERROR("kubernetes cache could not apply an event", "resource",
                        c->plural, "type", azidt_kube_event_type_name(type),
                        "error", azidt_err_name(rc));
}

azidt_err azidt_kube_cache_start(struct azidt_kube_cache *c,
                                 struct azidt_kube_client *client)
{
    struct azidt_kube_watch_handlers h = {
        .list_cb = on_list, .event_cb = on_event, .ctx = c};

    if (c->watch)
        return AZIDT_ERR_INVALID;
    return azidt_kube_watch_start(client, &c->watch_opts, &h, &c->watch);
}

void azidt_kube_cache_free(struct azidt_kube_cache *c)
{
    if (!c)
        return;
    azidt_kube_watch_stop(c->watch);
    table_free(c, &c->table);
    free(c->group);
    free(c->version);
    free(c->plural);
    free(c->namespace);
    free(c->label_selector);
    free(c->field_selector);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->sync_lock);
    pthread_cond_destroy(&c->sync_cond);
    free(c);
}
