#include "controller_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/log.h"
#include "azidt/metrics.h"

const struct azidt_kube_resource azidt_res_terminators = {
    AZIDT_GROUP, AZIDT_VERSION, AZIDT_PLURAL, true};
const struct azidt_kube_resource azidt_res_secrets = {"", "v1", "secrets",
                                                      true};
const struct azidt_kube_resource azidt_res_identities = {
    AAD_POD_IDENTITY_GROUP, AAD_POD_IDENTITY_VERSION, "azureidentities", true};
const struct azidt_kube_resource azidt_res_bindings = {
    AAD_POD_IDENTITY_GROUP, AAD_POD_IDENTITY_VERSION, "azureidentitybindings",
    true};

void azidt_controller_config_init(struct azidt_controller_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->resync_interval_ms = 10 * 60 * 1000;
    cfg->sweep_interval_ms = 10 * 60 * 1000;
    cfg->orphan_grace_ms = 10 * 60 * 1000;
    cfg->secret_overlap_ms = 10 * 60 * 1000;
    cfg->step_timeout_ms = 60 * 1000;
    cfg->workers = 2;
    cfg->instance = NULL;
}

/* --- Work queue --------------------------------------------------------
 * A key appears at most once. A key a worker holds is not handed to a
 * second worker; enqueuing it meanwhile marks it dirty, and it runs again
 * once the first reconcile ends. */

static struct queue_entry *find_entry(struct azidt_controller *ctrl,
                                      const char *key)
{
    for (size_t i = 0; i < ctrl->queue_len; i++) {
        if (strcmp(ctrl->queue[i].key, key) == 0)
            return &ctrl->queue[i];
    }
    return NULL;
}

void controller_enqueue(struct azidt_controller *ctrl, const char *key,
                        int64_t delay_ms)
{
    int64_t due = azidt_clock_now_ms() + delay_ms;
    struct queue_entry *entry;

    pthread_mutex_lock(&ctrl->lock);
    entry = find_entry(ctrl, key);
    if (entry && entry->running) {
        if (!entry->dirty || due < entry->dirty_due_ms)
            entry->dirty_due_ms = due;
        entry->dirty = true;
    } else if (entry) {
        if (due < entry->due_ms)
            entry->due_ms = due;
    } else {
        if (ctrl->queue_len == ctrl->queue_cap) {
            size_t cap = ctrl->queue_cap ? ctrl->queue_cap * 2 : 64;
            struct queue_entry *grown =
                realloc(ctrl->queue, cap * sizeof(*grown));

            if (!grown) {
                pthread_mutex_unlock(&ctrl->lock);
                AZIDT_LOG_ERROR("out of memory; object not queued", "object",
                                key);
                return;
            }
            ctrl->queue = grown;
            ctrl->queue_cap = cap;
        }
        entry = &ctrl->queue[ctrl->queue_len];
        memset(entry, 0, sizeof(*entry));
        entry->key = strdup(key);
        if (!entry->key) {
            pthread_mutex_unlock(&ctrl->lock);
            return;
        }
        entry->due_ms = due;
        ctrl->queue_len++;
    }
    pthread_cond_broadcast(&ctrl->wake);
    pthread_mutex_unlock(&ctrl->lock);
}

/* Wait for the next due key and mark it running. Returns NULL when the
 * controller stops. Called with ctrl->lock held. */
static struct queue_entry *next_due(struct azidt_controller *ctrl)
{
    while (!ctrl->stopping) {
        struct queue_entry *best = NULL;
        int64_t now = azidt_clock_now_ms();
        struct timespec until;
        int64_t wait_ms = 1000;

        for (size_t i = 0; i < ctrl->queue_len; i++) {
            struct queue_entry *e = &ctrl->queue[i];

            if (!e->running && (!best || e->due_ms < best->due_ms))
                best = e;
        }
        if (best && best->due_ms <= now) {
            best->running = true;
            return best;
        }
        if (best && best->due_ms - now < wait_ms)
            wait_ms = best->due_ms - now;
        until = azidt_clock_monotonic_in(wait_ms);
        pthread_cond_timedwait(&ctrl->wake, &ctrl->lock, &until);
    }
    return NULL;
}

/* Maximum wait between reconciles of an object that keeps failing. */
#define FAILURE_BACKOFF_MAX_MS (5 * 60 * 1000)

/* Delay before the next reconcile: the one the reconcile asked for, or,
 * after failures in a row, that delay doubled per failure up to
 * FAILURE_BACKOFF_MAX_MS, so a lasting Azure error does not turn into a
 * stream of calls and Events. */
static int64_t next_delay_ms(struct azidt_controller *ctrl,
                             const struct reconcile_result *result,
                             unsigned failures)
{
    int64_t delay = result->requeue_after_ms > 0 ? result->requeue_after_ms
                                                 : ctrl->cfg.resync_interval_ms;

    if (!result->failed)
        return delay;
    for (unsigned i = 1; i < failures && delay < FAILURE_BACKOFF_MAX_MS; i++)
        delay *= 2;
    return delay < FAILURE_BACKOFF_MAX_MS ? delay : FAILURE_BACKOFF_MAX_MS;
}

/* After a reconcile: keep the key for its next due time (a resync or an
 * earlier requeue), sooner when it was enqueued while running. */
static void finish_entry(struct azidt_controller *ctrl, const char *key,
                         const struct reconcile_result *result)
{
    struct queue_entry *entry = find_entry(ctrl, key);
    int64_t next_due_ms;

    if (!entry)
        return;
    entry->failures = result->failed ? entry->failures + 1 : 0;
    next_due_ms =
        azidt_clock_now_ms() + next_delay_ms(ctrl, result, entry->failures);
    entry->running = false;
    entry->due_ms = next_due_ms;
    if (entry->dirty && entry->dirty_due_ms < next_due_ms)
        entry->due_ms = entry->dirty_due_ms;
    entry->dirty = false;
}

/* Drop a key whose object is gone from the cache. */
static void forget_entry(struct azidt_controller *ctrl, const char *key)
{
    struct queue_entry *entry = find_entry(ctrl, key);
    size_t index;

    if (!entry || entry->running)
        return;
    index = (size_t)(entry - ctrl->queue);
    free(entry->key);
    ctrl->queue[index] = ctrl->queue[ctrl->queue_len - 1];
    ctrl->queue_len--;
}

static bool key_cached(struct azidt_controller *ctrl, const char *key)
{
    char ns[256];
    const char *slash = strchr(key, '/');

    if (!slash || (size_t)(slash - key) >= sizeof(ns))
        return false;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return azidt_kube_cache_lookup(ctrl->cache, ns, slash + 1, NULL, NULL) ==
           AZIDT_OK;
}

static void *worker_main(void *arg)
{
    struct azidt_controller *ctrl = arg;

    pthread_mutex_lock(&ctrl->lock);
    for (;;) {
        struct queue_entry *entry = next_due(ctrl);
        struct reconcile_result result = {0};
        char *key;

        if (!entry)
            break;
        key = strdup(entry->key);
        pthread_mutex_unlock(&ctrl->lock);

        if (key) {
            int64_t started_us = azidt_metrics_now_us();

            controller_reconcile(ctrl, key, &result);
            azidt_metrics_reconcile(!result.failed,
                                    azidt_metrics_now_us() - started_us);
        }

        pthread_mutex_lock(&ctrl->lock);
        if (key) {
            finish_entry(ctrl, key, &result);
            if (!key_cached(ctrl, key))
                forget_entry(ctrl, key);
        }
        free(key);
    }
    pthread_mutex_unlock(&ctrl->lock);
    return NULL;
}

/* --- Sweep -------------------------------------------------------------- */

static void *sweeper_main(void *arg)
{
    struct azidt_controller *ctrl = arg;

    pthread_mutex_lock(&ctrl->lock);
    while (!ctrl->stopping) {
        struct timespec until;
        int64_t wait_ms = ctrl->cfg.sweep_interval_ms;

        until = azidt_clock_monotonic_in(wait_ms);
        pthread_cond_timedwait(&ctrl->wake, &ctrl->lock, &until);
        if (ctrl->stopping)
            break;
        pthread_mutex_unlock(&ctrl->lock);
        if (azidt_kube_cache_has_synced(ctrl->cache))
            controller_sweep_once(ctrl);
        pthread_mutex_lock(&ctrl->lock);
    }
    pthread_mutex_unlock(&ctrl->lock);
    return NULL;
}

/* --- Events ------------------------------------------------------------- */

void controller_event(struct azidt_controller *ctrl, const cJSON *object,
                      const char *type, const char *reason, const char *message)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    struct azidt_kube_event event = {
        .api_version = AZIDT_API_VERSION,
        .kind = AZIDT_KIND,
        .namespace = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(meta, "namespace")),
        .name = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(meta, "name")),
        .uid =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "uid")),
        .type = type,
        .reason = reason,
        .message = message,
        .reporting_component = AZIDT_MANAGED_BY_VALUE,
        .reporting_instance = ctrl->instance,
    };
    struct azidt_kube_response resp = {0};

    if (!event.namespace || !event.name || controller_stopping(ctrl))
        return;
    if (azidt_kube_event_create(ctrl->kube, &event, azidt_deadline_in(10000),
                                &resp))
        AZIDT_LOG_WARN("failed to record an event", "namespace",
                       event.namespace, "name", event.name, "reason", reason,
                       "error", resp.message);
    azidt_kube_response_clear(&resp);
}

/* --- Cache -------------------------------------------------------------- */

static bool same_member(const cJSON *a, const cJSON *b, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, name);
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, name);

    return (!x && !y) || (x && y && cJSON_Compare(x, y, true));
}

/* True unless the change touched only status and server-set metadata.
 * Status writes are the controller's own; reconciling on them would turn
 * every failure whose message differs (a request id) into a tight loop.
 * A spec change raises metadata.generation. */
static bool needs_reconcile(const cJSON *old_object, const cJSON *new_object)
{
    const cJSON *old_meta;
    const cJSON *new_meta;

    if (!old_object || !new_object)
        return true;
    old_meta = cJSON_GetObjectItemCaseSensitive(old_object, "metadata");
    new_meta = cJSON_GetObjectItemCaseSensitive(new_object, "metadata");
    return !same_member(old_meta, new_meta, "generation") ||
           !same_member(old_meta, new_meta, "uid") ||
           !same_member(old_meta, new_meta, "deletionTimestamp") ||
           !same_member(old_meta, new_meta, "finalizers");
}

static void on_change(enum azidt_kube_event_type type, const char *ns,
                      const char *name, const void *old_record,
                      const void *new_record, void *ctx)
{
    struct azidt_controller *ctrl = ctx;
    char key[512];

    if (type == AZIDT_KUBE_DELETED || !needs_reconcile(old_record, new_record))
        return;
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    controller_enqueue(ctrl, key, 0);
}

/* Owned objects: the record is the name of the controlling
 * AzureIdentityTerminator, or nothing for an object without one. */
static void *project_owner(const cJSON *object, void *ctx)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *ref;

    (void)ctx;
    cJSON_ArrayForEach(
        ref, cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences"))
    {
        const char *kind =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "kind"));
        const char *name =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "name"));

        if (kind && name && strcmp(kind, AZIDT_KIND) == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
            return strdup(name);
    }
    return NULL;
}

/* An owned object went (deleted by hand, or by its owner's cleanup):
 * reconcile the owner now rather than at the next resync. */
static void on_owned_change(enum azidt_kube_event_type type, const char *ns,
                            const char *name, const void *old_record,
                            const void *new_record, void *ctx)
{
    struct azidt_controller *ctrl = ctx;
    char key[512];

    (void)name;
    (void)new_record;
    if (type != AZIDT_KUBE_DELETED || !old_record)
        return;
    snprintf(key, sizeof(key), "%s/%s", ns, (const char *)old_record);
    controller_enqueue(ctrl, key, 0);
}

/* NOTE: the Secret watch receives each Secret whole, data included. The
 * projection keeps only the owner's name, but the parsed response is freed
 * without being wiped; a metadata-only watch would avoid that. */
static azidt_err new_owned_caches(struct azidt_controller *ctrl)
{
    const struct azidt_kube_resource *kinds[] = {
        &azidt_res_secrets, &azidt_res_identities, &azidt_res_bindings};
    struct azidt_kube_cache_options opts = {0};
    azidt_err rc = AZIDT_OK;

    opts.watch.label_selector =
        AZIDT_MANAGED_BY_LABEL "=" AZIDT_MANAGED_BY_VALUE;
    opts.project = project_owner;
    opts.free_record = free;
    opts.change_cb = on_owned_change;
    opts.ctx = ctrl;
    for (size_t i = 0; !rc && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        opts.watch.resource = kinds[i];
        rc = azidt_kube_cache_new(&opts, &ctrl->owned[i]);
    }
    return rc;
}

azidt_err azidt_controller_new(struct azidt_kube_client *kube,
                               struct azidt_provisioner *prov,
                               const struct azidt_controller_config *cfg,
                               struct azidt_controller **out)
{
    struct azidt_kube_cache_options opts = {0};
    struct azidt_controller *ctrl;
    azidt_err rc;

    *out = NULL;
    ctrl = calloc(1, sizeof(*ctrl));
    if (!ctrl)
        return AZIDT_ERR_NOMEM;
    ctrl->cfg = *cfg;
    if (ctrl->cfg.workers == 0)
        ctrl->cfg.workers = 1;
    ctrl->instance = strdup(cfg->instance ? cfg->instance : "");
    ctrl->kube = kube;
    ctrl->prov = prov;
    pthread_mutex_init(&ctrl->lock, NULL);
    {
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&ctrl->wake, &attr);
        pthread_condattr_destroy(&attr);
    }
    opts.watch.resource = &azidt_res_terminators;
    opts.change_cb = on_change;
    opts.ctx = ctrl;
    rc = azidt_kube_cache_new(&opts, &ctrl->cache);
    if (!rc)
        rc = new_owned_caches(ctrl);
    if (rc || !ctrl->instance) {
        azidt_controller_free(ctrl);
        return rc ? rc : AZIDT_ERR_NOMEM;
    }
    *out = ctrl;
    return AZIDT_OK;
}

azidt_err azidt_controller_start(struct azidt_controller *ctrl)
{
    azidt_err rc = azidt_kube_cache_start(ctrl->cache, ctrl->kube);

    for (size_t i = 0; !rc && i < sizeof(ctrl->owned) / sizeof(ctrl->owned[0]);
         i++)
        rc = azidt_kube_cache_start(ctrl->owned[i], ctrl->kube);
    if (rc)
        return rc;
    ctrl->workers = calloc(ctrl->cfg.workers, sizeof(*ctrl->workers));
    if (!ctrl->workers)
        return AZIDT_ERR_NOMEM;
    for (unsigned i = 0; i < ctrl->cfg.workers; i++) {
        if (pthread_create(&ctrl->workers[i], NULL, worker_main, ctrl) != 0)
            return AZIDT_ERR_INTERNAL;
        ctrl->worker_count++;
    }
    if (pthread_create(&ctrl->sweeper, NULL, sweeper_main, ctrl) != 0)
        return AZIDT_ERR_INTERNAL;
    ctrl->sweeper_started = true;
    AZIDT_LOG_INFO("controller started", "cluster",
                   azidt_provisioner_cluster_id(ctrl->prov));
    return AZIDT_OK;
}

bool controller_stopping(struct azidt_controller *ctrl)
{
    bool stopping;

    pthread_mutex_lock(&ctrl->lock);
    stopping = ctrl->stopping;
    pthread_mutex_unlock(&ctrl->lock);
    return stopping;
}

void azidt_controller_stop(struct azidt_controller *ctrl)
{
    if (!ctrl)
        return;
    pthread_mutex_lock(&ctrl->lock);
    ctrl->stopping = true;
    pthread_cond_broadcast(&ctrl->wake);
    pthread_mutex_unlock(&ctrl->lock);
}

bool azidt_controller_has_synced(const struct azidt_controller *ctrl)
{
    return ctrl && azidt_kube_cache_has_synced(ctrl->cache);
}

void azidt_controller_free(struct azidt_controller *ctrl)
{
    if (!ctrl)
        return;
    azidt_controller_stop(ctrl);
    for (unsigned i = 0; i < ctrl->worker_count; i++)
        pthread_join(ctrl->workers[i], NULL);
    if (ctrl->sweeper_started)
        pthread_join(ctrl->sweeper, NULL);
    for (size_t i = 0; i < sizeof(ctrl->owned) / sizeof(ctrl->owned[0]); i++)
        azidt_kube_cache_free(ctrl->owned[i]);
    azidt_kube_cache_free(ctrl->cache);
    for (size_t i = 0; i < ctrl->queue_len; i++)
        free(ctrl->queue[i].key);
    free(ctrl->queue);
    free(ctrl->workers);
    free(ctrl->instance);
    pthread_cond_destroy(&ctrl->wake);
    pthread_mutex_destroy(&ctrl->lock);
    free(ctrl);
}
