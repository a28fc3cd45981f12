#include "azidt/leader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/clock.h"
#include "azidt/log.h"
#include "azidt/metrics.h"

static const struct azidt_kube_resource leases = {"coordination.k8s.io", "v1",
                                                  "leases", true};

struct azidt_leader {
    struct azidt_kube_client *kube;
    struct azidt_leader_config cfg;
    char *namespace_;
    char *name;
    char *identity;
    azidt_leader_cb cb;
    void *ctx;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    atomic_bool leading;

    /* What this replica last saw of the Lease, and when (monotonic). */
    char observed_holder[256];
    char observed_renew[64];
    int64_t observed_at_ms;
    int64_t last_renew_ms; /* last successful renewal while leading */
};

void azidt_leader_config_init(struct azidt_leader_config *cfg)
{
    cfg->namespace_ = "default";
    cfg->name = "azure-identity-terminator";
    cfg->identity = NULL;
    cfg->lease_duration_ms = 15000;
    cfg->renew_deadline_ms = 10000;
    cfg->retry_period_ms = 2000;
}

/* Kubernetes MicroTime: RFC 3339 with microseconds, UTC. */
static void micro_time(char *out, size_t size)
{
    struct timespec now;
    struct tm utc;
    char seconds[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    strftime(seconds, sizeof(seconds), "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(out, size, "%s.%06ldZ", seconds, now.tv_nsec / 1000);
}

static const char *spec_string(const cJSON *lease, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(lease, "spec"), key));
}

static double spec_number(const cJSON *lease, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(lease, "spec"), key);

    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

/* Build the Lease with this replica as holder. existing (may be NULL)
 * supplies resourceVersion, acquireTime and the transition count. */
static cJSON *build_lease(struct azidt_leader *l, const cJSON *existing,
                          bool release)
{
    cJSON *lease = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(lease, "metadata");
    cJSON *spec = cJSON_AddObjectToObject(lease, "spec");
    const char *old_holder = spec_string(existing, "holderIdentity");
    bool same_holder = old_holder && strcmp(old_holder, l->identity) == 0;
    double transitions = spec_number(existing, "leaseTransitions");
    const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(existing, "metadata"),
        "resourceVersion"));
    char now[64];

    micro_time(now, sizeof(now));
    cJSON_AddStringToObject(lease, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(lease, "kind", "Lease");
    cJSON_AddStringToObject(meta, "name", l->name);
    cJSON_AddStringToObject(meta, "namespace", l->namespace_);
    if (rv)
        cJSON_AddStringToObject(meta, "resourceVersion", rv);
    cJSON_AddStringToObject(spec, "holderIdentity", release ? "" : l->identity);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
                            (double)(l->cfg.lease_duration_ms / 1000));
    cJSON_AddStringToObject(spec, "acquireTime",
                            same_holder && spec_string(existing, "acquireTime")
                                ? spec_string(existing, "acquireTime")
                                : now);
    cJSON_AddStringToObject(spec, "renewTime", now);
    cJSON_AddNumberToObject(spec, "leaseTransitions",
                            same_holder || !existing ? transitions
                                                     : transitions + 1);
    return lease;
}

/* Note the Lease's holder and renewTime; restart the expiry clock when
 * either changed. */
static void observe(struct azidt_leader *l, const cJSON *lease)
{
    const char *holder = spec_string(lease, "holderIdentity");
    const char *renew = spec_string(lease, "renewTime");

    if (!holder)
        holder = "";
    if (!renew)
        renew = "";
    if (strcmp(holder, l->observed_holder) != 0 ||
        strcmp(renew, l->observed_renew) != 0) {
        snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", holder);
        snprintf(l->observed_renew, sizeof(l->observed_renew), "%s", renew);
        l->observed_at_ms = azidt_clock_now_ms();
    }
}

/* One attempt to acquire or renew. Returns true when this replica holds
 * the Lease afterwards. */
static bool try_acquire_or_renew(struct azidt_leader *l)
{
    struct azidt_kube_response resp = {0};
    int64_t deadline = azidt_deadline_in(l->cfg.retry_period_ms);
    cJSON *lease = NULL;
    bool held = false;
    azidt_err rc;

    rc = azidt_kube_get(l->kube, &leases, l->namespace_, l->name, deadline,
                        &resp);
    if (rc == AZIDT_ERR_NOT_FOUND) {
        lease = build_lease(l, NULL, false);
        azidt_kube_response_clear(&resp);
        rc = azidt_kube_create(l->kube, &leases, l->namespace_, lease, NULL,
                               deadline, &resp);
        held = rc == AZIDT_OK;
        goto out;
    }
    if (rc) {
        AZIDT_LOG_WARN("failed to read the leader Lease", "namespace",
                       l->namespace_, "name", l->name, "error", resp.message);
        goto out;
    }
    observe(l, resp.body);
    if (l->observed_holder[0] && strcmp(l->observed_holder, l->identity) != 0 &&
        azidt_clock_now_ms() - l->observed_at_ms < l->cfg.lease_duration_ms)
        goto out; /* another replica holds a live lease */

    lease = build_lease(l, resp.body, false);
    azidt_kube_response_clear(&resp);
    rc = azidt_kube_update(l->kube, &leases, l->namespace_, l->name, lease,
                           NULL, deadline, &resp);
    held = rc == AZIDT_OK;
    if (held)
        observe(l, resp.body);
out:
    cJSON_Delete(lease);
    azidt_kube_response_clear(&resp);
    return held;
}

static void set_leading(struct azidt_leader *l, bool leading)
{
    if (atomic_load(&l->leading) == leading)
        return;
    atomic_store(&l->leading, leading);
    azidt_metrics_set_leader(leading);
    AZIDT_LOG_INFO(leading ? "became leader" : "stopped leading", "lease",
                   l->name, "namespace", l->namespace_, "identity",
                   l->identity);
    l->cb(leading, l->ctx);
}

static void release(struct azidt_leader *l)
{
    struct azidt_kube_response resp = {0};
    int64_t deadline = azidt_deadline_in(l->cfg.retry_period_ms);
    cJSON *lease;

    if (azidt_kube_get(l->kube, &leases, l->namespace_, l->name, deadline,
                       &resp) ||
        !spec_string(resp.body, "holderIdentity") ||
        strcmp(spec_string(resp.body, "holderIdentity"), l->identity) != 0) {
        azidt_kube_response_clear(&resp);
        return;
    }
    lease = build_lease(l, resp.body, true);
    azidt_kube_response_clear(&resp);
    azidt_kube_update(l->kube, &leases, l->namespace_, l->name, lease, NULL,
                      deadline, &resp);
    cJSON_Delete(lease);
    azidt_kube_response_clear(&resp);
}

static void wait_period(struct azidt_leader *l)
{
    struct timespec until;
    int64_t ms = l->cfg.retry_period_ms;

    until = azidt_clock_monotonic_in(ms);
    pthread_mutex_lock(&l->lock);
    if (!l->stopping)
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    pthread_mutex_unlock(&l->lock);
}

static bool stopping(struct azidt_leader *l)
{
    bool stop;

    pthread_mutex_lock(&l->lock);
    stop = l->stopping;
    pthread_mutex_unlock(&l->lock);
    return stop;
}

static void *election_main(void *arg)
{
    struct azidt_leader *l = arg;

    while (!stopping(l)) {
        bool held = try_acquire_or_renew(l);

        if (held) {
            l->last_renew_ms = azidt_clock_now_ms();
            set_leading(l, true);
        } else if (atomic_load(&l->leading) &&
                   azidt_clock_now_ms() - l->last_renew_ms >=
                       l->cfg.renew_deadline_ms) {
            set_leading(l, false);
        }
        wait_period(l);
    }
    if (atomic_load(&l->leading)) {
        set_leading(l, false);
        release(l);
    }
    return NULL;
}

azidt_err azidt_leader_start(struct azidt_kube_client *kube,
                             const struct azidt_leader_config *cfg,
                             azidt_leader_cb cb, void *ctx,
                             struct azidt_leader **out)
{
    struct azidt_leader *l;
    pthread_condattr_t attr;

    *out = NULL;
    if (!kube || !cfg || !cfg->namespace_ || !cfg->name || !cfg->identity ||
        !*cfg->identity || !cb ||
        cfg->renew_deadline_ms >= cfg->lease_duration_ms)
        return AZIDT_ERR_INVALID;
    l = calloc(1, sizeof(*l));
    if (!l)
        return AZIDT_ERR_NOMEM;
    l->kube = kube;
    l->cfg = *cfg;
    l->namespace_ = strdup(cfg->namespace_);
    l->name = strdup(cfg->name);
    l->identity = strdup(cfg->identity);
    l->cb = cb;
    l->ctx = ctx;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (!l->namespace_ || !l->name || !l->identity ||
        pthread_create(&l->thread, NULL, election_main, l) != 0) {
        free(l->namespace_);
        free(l->name);
        free(l->identity);
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return AZIDT_ERR_INTERNAL;
    }
    *out = l;
    return AZIDT_OK;
}

bool azidt_leader_is_leading(const struct azidt_leader *leader)
{
    return leader && atomic_load(&leader->leading);
}

void azidt_leader_stop(struct azidt_leader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    free(l->namespace_);
    free(l->name);
    free(l->identity);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
