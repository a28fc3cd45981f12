#include "azidt/identity_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/constants.h"
#include "azidt/log.h"

#define INDEX_BUCKETS_MIN 64

/* Bindings of one namespace that use a selector. */
struct namespace_ref {
    char *namespace;
    unsigned bindings;
};

/* One selector and the namespaces whose bindings use it. Most selectors
 * are bound in one namespace, so a small array beats a second table. */
struct selector_entry {
    struct selector_entry *next;
    uint64_t hash;
    struct namespace_ref *refs;
    size_t ref_count;
    size_t ref_capacity;
    char selector[];
};

/* selector -> namespaces, written only by the bindings' watch thread. */
struct selector_index {
    pthread_rwlock_t lock;
    struct selector_entry **buckets;
    size_t bucket_count;
    size_t count;
};

struct azidt_identity_cache {
    struct azidt_kube_cache *terminators;
    struct azidt_kube_cache *bindings;
    struct selector_index index;
    atomic_bool index_failed;
};

static const struct azidt_kube_resource terminator_resource = {
    AZIDT_GROUP, AZIDT_VERSION, AZIDT_PLURAL, true};
static const struct azidt_kube_resource binding_resource = {
    AAD_POD_IDENTITY_GROUP, AAD_POD_IDENTITY_VERSION, "azureidentitybindings",
    true};

/* ---------------------------------------------------------- selector index */

/* FNV-1a, so that a lookup hashes the label value in place. */
static uint64_t hash_string(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* Initialise a read-write lock that lets a waiting writer in before new
 * readers. glibc's default prefers readers, so a steady stream of pod
 * admissions could keep a watch thread from ever applying a change. No
 * reader takes the lock twice, which this kind requires. */
static void rwlock_init_writer_first(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

static bool index_init(struct selector_index *ix)
{
    rwlock_init_writer_first(&ix->lock);
    ix->buckets = calloc(INDEX_BUCKETS_MIN, sizeof(*ix->buckets));
    ix->bucket_count = ix->buckets ? INDEX_BUCKETS_MIN : 0;
    ix->count = 0;
    return ix->buckets != NULL;
}

static void entry_free(struct selector_entry *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ref_count; i++)
        free(e->refs[i].namespace);
    free(e->refs);
    free(e);
}

static void index_destroy(struct selector_index *ix)
{
    for (size_t i = 0; i < ix->bucket_count; i++) {
        struct selector_entry *e = ix->buckets[i];

        while (e) {
            struct selector_entry *next = e->next;

            entry_free(e);
            e = next;
        }
    }
    free(ix->buckets);
    ix->buckets = NULL;
    ix->bucket_count = 0;
    pthread_rwlock_destroy(&ix->lock);
}

static struct selector_entry **index_slot(struct selector_index *ix,
                                          const char *selector, uint64_t hash)
{
    struct selector_entry **slot = &ix->buckets[hash & (ix->bucket_count - 1)];

    for (; *slot; slot = &(*slot)->next) {
        if ((*slot)->hash == hash && strcmp((*slot)->selector, selector) == 0)
            break;
    }
    return slot;
}

/* Double the buckets once the load factor passes 1. A failed allocation
 * keeps the old array, which is slower but still correct. */
static void index_grow(struct selector_index *ix)
{
    size_t n = ix->bucket_count * 2;
    struct selector_entry **grown;

    if (ix->count < ix->bucket_count)
        return;
    grown = calloc(n, sizeof(*grown));
    if (!grown)
        return;
    for (size_t i = 0; i < ix->bucket_count; i++) {
        struct selector_entry *e = ix->buckets[i];

        while (e) {
            struct selector_entry *next = e->next;

            e->next = grown[e->hash & (n - 1)];
            grown[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(ix->buckets);
    ix->buckets = grown;
    ix->bucket_count = n;
}

/* Count one more binding of selector in namespace. Call with the write
 * lock held. */
static azidt_err index_add_locked(struct selector_index *ix,
                                  const char *selector, const char *namespace)
{
    uint64_t hash = hash_string(selector);
    struct selector_entry **slot = index_slot(ix, selector, hash);
    struct selector_entry *e = *slot;
    bool created = false;
    char *ns_copy;

    if (!e) {
        size_t len = strlen(selector);

        e = calloc(1, sizeof(*e) + len + 1);
        if (!e)
            return AZIDT_ERR_NOMEM;
        memcpy(e->selector, selector, len + 1);
        e->hash = hash;
        created = true;
    }
    for (size_t i = 0; i < e->ref_count; i++) {
        if (strcmp(e->refs[i].namespace, namespace) == 0) {
            e->refs[i].bindings++;
            return AZIDT_OK;
        }
    }
    if (e->ref_count == e->ref_capacity) {
        size_t cap = e->ref_capacity ? e->ref_capacity * 2 : 1;
        struct namespace_ref *refs = realloc(e->refs, cap * sizeof(*refs));

        if (!refs)
            goto nomem;
        e->refs = refs;
        e->ref_capacity = cap;
    }
    ns_copy = strdup(namespace);
    if (!ns_copy)
        goto nomem;
    e->refs[e->ref_count++] = (struct namespace_ref){ns_copy, 1};
    if (created) {
        e->next = ix->buckets[hash & (ix->bucket_count - 1)];
        ix->buckets[hash & (ix->bucket_count - 1)] = e;
        ix->count++;
        index_grow(ix);
    }
    return AZIDT_OK;
nomem:
    if (created)
        entry_free(e);
    return AZIDT_ERR_NOMEM;
}

/* Count one binding of selector in namespace less, and drop the selector
 * once no namespace uses it. Call with the write lock held. */
static void index_remove_locked(struct selector_index *ix, const char *selector,
                                const char *namespace)
{
    struct selector_entry **slot =
        index_slot(ix, selector, hash_string(selector));
    struct selector_entry *e = *slot;

    if (!e)
        return;
    for (size_t i = 0; i < e->ref_count; i++) {
        struct namespace_ref *ref = &e->refs[i];

        if (strcmp(ref->namespace, namespace) != 0)
            continue;
        if (--ref->bindings > 0)
            return;
        free(ref->namespace);
        e->refs[i] = e->refs[--e->ref_count];
        break;
    }
    if (e->ref_count > 0)
        return;
    *slot = e->next;
    ix->count--;
    entry_free(e);
}

/* ------------------------------------------------------------- projections */

static const char *json_string(const cJSON *object, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, key));
}

static const cJSON *ready_condition(const cJSON *object)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(object, "status");
    const cJSON *conditions =
        cJSON_GetObjectItemCaseSensitive(status, "conditions");
    const cJSON *condition;

    cJSON_ArrayForEach(condition, conditions)
    {
        const char *type = json_string(condition, "type");

        if (type && strcmp(type, "Ready") == 0)
            return condition;
    }
    return NULL;
}

/* Copy src into dst (size bytes), cutting it when too long. */
static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void *project_terminator(const cJSON *object, void *ctx)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *deleting =
        cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp");
    const cJSON *ready = ready_condition(object);
    const char *selector = json_string(spec, "podSelector");
    const char *status = json_string(ready, "status");
    struct azidt_identity_view *view = calloc(1, sizeof(*view));

    (void)ctx;
    if (!view)
        return NULL;
    /* A longer value cannot be a label value, so it must not be cut into
     * one that selects some other binding. */
    if (selector && strlen(selector) < sizeof(view->pod_selector))
        copy_text(view->pod_selector, sizeof(view->pod_selector), selector);
    if (status && strcmp(status, "True") == 0)
        view->ready = AZIDT_IDENTITY_READY_TRUE;
    else if (status && strcmp(status, "False") == 0)
        view->ready = AZIDT_IDENTITY_READY_FALSE;
    copy_text(view->reason, sizeof(view->reason), json_string(ready, "reason"));
    copy_text(view->message, sizeof(view->message),
              json_string(ready, "message"));
    view->deleting = deleting && !cJSON_IsNull(deleting);
    copy_text(view->identity_name, sizeof(view->identity_name),
              json_string(spec, "azureIdentityName"));
    return view;
}

struct identity_name_search {
    const char *namespace_;
    const char *identity_name;
    const char *exclude_name;
    char *owner;
    size_t size;
    bool found;
};

static void match_identity_name(const char *namespace, const char *name,
                                const void *record, void *ctx)
{
    struct identity_name_search *search = ctx;
    const struct azidt_identity_view *view = record;

    if (search->found || strcmp(namespace, search->namespace_) != 0 ||
        strcmp(name, search->exclude_name) == 0 ||
        strcmp(view->identity_name, search->identity_name) != 0)
        return;
    copy_text(search->owner, search->size, name);
    search->found = true;
}

azidt_err azidt_identity_cache_find_identity_name(
    struct azidt_identity_cache *cache, const char *namespace_,
    const char *identity_name, const char *exclude_name, char *owner,
    size_t size)
{
    struct identity_name_search search = {
        namespace_, identity_name, exclude_name, owner, size, false};

    azidt_kube_cache_foreach(azidt_identity_cache_terminators(cache),
                             match_identity_name, &search);
    return search.found ? AZIDT_OK : AZIDT_ERR_NOT_FOUND;
}

/* A binding's record is a copy of its spec.selector. Bindings without one
 * select no pod and are left out. */
static void *project_binding(const cJSON *object, void *ctx)
{
    struct azidt_identity_cache *c = ctx;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");
    const char *selector = json_string(spec, "selector");
    char *copy;

    if (!selector)
        return NULL;
    /* A binding left out for lack of memory would look deleted, so the
     * index is marked failed. */
    copy = strdup(selector);
    if (!copy)
        atomic_store(&c->index_failed, true);
    return copy;
}

/* Keeps the selector index in step with the bindings cache. Runs on the
 * bindings' watch thread, the index's only writer. */
static void binding_changed_cb(enum azidt_kube_event_type type,
                               const char *namespace, const char *name,
                               const void *old_record, const void *new_record,
                               void *ctx)
{
    struct azidt_identity_cache *c = ctx;
    const char *old_selector = old_record;
    const char *new_selector = new_record;
    azidt_err rc = AZIDT_OK;

    (void)type;
    if (old_selector && new_selector && strcmp(old_selector, new_selector) == 0)
        return;
    pthread_rwlock_wrlock(&c->index.lock);
    if (old_selector)
        index_remove_locked(&c->index, old_selector, namespace);
    if (new_selector)
        rc = index_add_locked(&c->index, new_selector, namespace);
    pthread_rwlock_unlock(&c->index.lock);
    if (rc) {
        atomic_store(&c->index_failed, true);
        AZIDT_LOG_ERROR("out of memory while indexing an AzureIdentityBinding; "
                        "pods with the aadpodidbinding label are denied until "
                        "the webhook restarts",
                        "namespace", namespace, "name", name, "selector",
                        new_selector);
    }
}

/* -------------------------------------------------------------- interface */

azidt_err azidt_identity_cache_new(struct azidt_identity_cache **out)
{
    struct azidt_identity_cache *c = calloc(1, sizeof(*c));
    struct azidt_kube_cache_options terminators = {
        .watch = {.resource = &terminator_resource},
        .project = project_terminator,
        .free_record = free,
    };
    struct azidt_kube_cache_options bindings = {
        .watch = {.resource = &binding_resource},
        .project = project_binding,
        .free_record = free,
        .change_cb = binding_changed_cb,
        .ctx = c,
    };
    azidt_err rc;

    *out = NULL;
    if (!c)
        return AZIDT_ERR_NOMEM;
    if (!index_init(&c->index)) {
        pthread_rwlock_destroy(&c->index.lock);
        free(c);
        return AZIDT_ERR_NOMEM;
    }
    rc = azidt_kube_cache_new(&terminators, &c->terminators);
    if (!rc)
        rc = azidt_kube_cache_new(&bindings, &c->bindings);
    if (rc) {
        azidt_identity_cache_free(c);
        return rc;
    }
    *out = c;
    return AZIDT_OK;
}

azidt_err azidt_identity_cache_start(struct azidt_identity_cache *c,
                                     struct azidt_kube_client *client)
{
    azidt_err rc = azidt_kube_cache_start(c->bindings, client);

    if (rc)
        return rc;
    return azidt_kube_cache_start(c->terminators, client);
}

struct azidt_kube_cache *
azidt_identity_cache_terminators(struct azidt_identity_cache *c)
{
    return c->terminators;
}

struct azidt_kube_cache *
azidt_identity_cache_bindings(struct azidt_identity_cache *c)
{
    return c->bindings;
}

bool azidt_identity_cache_synced(struct azidt_identity_cache *c)
{
    return azidt_kube_cache_has_synced(c->terminators) &&
           azidt_kube_cache_has_synced(c->bindings);
}

bool azidt_identity_cache_healthy(struct azidt_identity_cache *c)
{
    return !atomic_load(&c->index_failed);
}

bool azidt_identity_cache_ready(void *ctx, char *why, size_t len)
{
    struct azidt_identity_cache *c = ctx;

    if (!azidt_identity_cache_healthy(c)) {
        snprintf(why, len,
                 "the AzureIdentityBinding index ran out of memory; "
                 "restart the webhook");
        return false;
    }
    if (!azidt_kube_cache_has_synced(c->terminators)) {
        snprintf(why, len,
                 "AzureIdentityTerminators have not been listed yet; check "
                 "that their CRD is installed and that the webhook may list "
                 "and watch them in every namespace");
        return false;
    }
    if (!azidt_kube_cache_has_synced(c->bindings)) {
        snprintf(why, len,
                 "AzureIdentityBindings have not been listed yet; check "
                 "that the aad-pod-identity CRDs are installed and that the "
                 "webhook may list and watch them in every namespace");
        return false;
    }
    return true;
}

static void copy_view(const void *record, void *ctx)
{
    memcpy(ctx, record, sizeof(struct azidt_identity_view));
}

azidt_err azidt_identity_cache_find(struct azidt_identity_cache *c,
                                    const char *namespace, const char *name,
                                    struct azidt_identity_view *out)
{
    azidt_err rc = azidt_kube_cache_lookup(c->terminators, namespace, name,
                                           copy_view, out);

    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum azidt_binding_scope
azidt_identity_cache_binding_scope(struct azidt_identity_cache *c,
                                   const char *selector, const char *namespace)
{
    enum azidt_binding_scope scope = AZIDT_BINDING_NOWHERE;
    const struct selector_entry *e;

    if (!selector || !namespace)
        return AZIDT_BINDING_NOWHERE;
    pthread_rwlock_rdlock(&c->index.lock);
    e = *index_slot(&c->index, selector, hash_string(selector));
    if (e)
        scope = AZIDT_BINDING_ELSEWHERE_ONLY;
    for (size_t i = 0; e && i < e->ref_count; i++) {
        if (strcmp(e->refs[i].namespace, namespace) == 0) {
            scope = AZIDT_BINDING_IN_NAMESPACE;
            break;
        }
    }
    pthread_rwlock_unlock(&c->index.lock);
    return scope;
}

bool azidt_identity_cache_bound_elsewhere(struct azidt_identity_cache *c,
                                          const char *selector,
                                          const char *namespace)
{
    const struct selector_entry *e;
    bool found = false;

    if (!selector || !namespace)
        return false;
    pthread_rwlock_rdlock(&c->index.lock);
    e = *index_slot(&c->index, selector, hash_string(selector));
    for (size_t i = 0; e && !found && i < e->ref_count; i++)
        found = strcmp(e->refs[i].namespace, namespace) != 0;
    pthread_rwlock_unlock(&c->index.lock);
    return found;
}

size_t azidt_identity_cache_identity_count(struct azidt_identity_cache *c)
{
    return azidt_kube_cache_count(c->terminators);
}

size_t azidt_identity_cache_binding_count(struct azidt_identity_cache *c)
{
    return azidt_kube_cache_count(c->bindings);
}

void azidt_identity_cache_free(struct azidt_identity_cache *c)
{
    if (!c)
        return;
    /* Stop the watches first: the bindings' callback writes the index. */
    azidt_kube_cache_free(c->terminators);
    azidt_kube_cache_free(c->bindings);
    index_destroy(&c->index);
    free(c);
}
