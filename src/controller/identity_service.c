#include "azidt/identity_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "azidt/azure_client.h"
#include "azidt/azure_config.h"
#include "azidt/clock.h"
#include "azidt/controller.h"
#include "azidt/identity_cache.h"
#include "azidt/kubeconfig.h"
#include "azidt/leader.h"
#include "azidt/log.h"
#include "azidt/metrics.h"

#include <openssl/rand.h>
#include <pthread.h>

struct azidt_identity_service {
    struct azidt_kube_client *kube;
    struct azidt_azure_client *azure;
    struct azidt_provisioner *prov;
    struct azidt_controller_config ctrl_cfg;
    char instance[256];
    struct azidt_leader *leader;
    pthread_mutex_t ctrl_lock; /* guards ctrl against the ready check */
    struct azidt_controller *ctrl;
    struct azidt_identity_cache *identities;
};

/* The uid of the kube-system namespace: stable for the cluster's life and
 * different in every cluster. */
static azidt_err read_cluster_id(struct azidt_kube_client *kube, char *out,
                                 size_t size, char *err, size_t errlen)
{
    static const struct azidt_kube_resource namespaces = {"", "v1",
                                                          "namespaces", false};
    struct azidt_kube_response resp = {0};
    const char *uid;
    azidt_err rc = azidt_kube_get(kube, &namespaces, NULL, "kube-system",
                                  azidt_deadline_in(15000), &resp);

    if (rc) {
        snprintf(err, errlen,
                 "cannot read namespace kube-system to derive the cluster id "
                 "(%s); set --cluster-id or AZIDT_CLUSTER_ID, or grant get on "
                 "namespaces",
                 resp.message ? resp.message : azidt_strerror(rc));
        goto out;
    }
    uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(resp.body, "metadata"), "uid"));
    if (!uid) {
        rc = AZIDT_ERR_REMOTE;
        snprintf(err, errlen, "namespace kube-system has no uid");
        goto out;
    }
    snprintf(out, size, "%s", uid);
out:
    azidt_kube_response_clear(&resp);
    return rc;
}

static azidt_err start_kube(const struct azidt_identity_config *cfg,
                            struct azidt_identity_service *svc, char *err,
                            size_t errlen)
{
    struct azidt_kubeconfig *kc = NULL;
    azidt_err rc =
        azidt_kubeconfig_load_default(cfg->kubeconfig, NULL, &kc, err, errlen);

    if (rc)
        return rc;
    rc = azidt_kube_client_new(kc, &svc->kube);
    if (rc)
        snprintf(err, errlen, "cannot create the Kubernetes client: %s",
                 azidt_strerror(rc));
    return rc;
}

/* Every replica serves pod admission, so every replica keeps the identity
 * cache, not only the one that runs the controller's writes. */
static azidt_err start_identity_cache(struct azidt_identity_service *svc,
                                      char *err, size_t errlen)
{
    azidt_err rc = azidt_identity_cache_new(&svc->identities);

    if (!rc)
        rc = azidt_identity_cache_start(svc->identities, svc->kube);
    if (rc)
        snprintf(err, errlen,
                 "cannot start the watches of AzureIdentityTerminators and "
                 "AzureIdentityBindings for pod admission: %s",
                 azidt_strerror(rc));
    return rc;
}

static azidt_err start_azure(struct azidt_identity_service *svc, char *err,
                             size_t errlen)
{
    struct azidt_azure_config *azcfg = NULL;
    azidt_err rc = azidt_azure_config_from_env(&azcfg, err, errlen);

    if (rc)
        return rc;
    return azidt_azure_client_new(azcfg, &svc->azure, err, errlen);
}

static azidt_err start_controller(struct azidt_identity_service *svc)
{
    struct azidt_controller *ctrl = NULL;
    azidt_err rc =
        azidt_controller_new(svc->kube, svc->prov, &svc->ctrl_cfg, &ctrl);

    if (!rc)
        rc = azidt_controller_start(ctrl);
    if (rc) {
        AZIDT_LOG_ERROR("cannot start the controller", "error",
                        azidt_strerror(rc));
        azidt_controller_free(ctrl);
        return rc;
    }
    pthread_mutex_lock(&svc->ctrl_lock);
    svc->ctrl = ctrl;
    pthread_mutex_unlock(&svc->ctrl_lock);
    return AZIDT_OK;
}

static void stop_controller(struct azidt_identity_service *svc)
{
    struct azidt_controller *ctrl;

    pthread_mutex_lock(&svc->ctrl_lock);
    ctrl = svc->ctrl;
    svc->ctrl = NULL;
    pthread_mutex_unlock(&svc->ctrl_lock);
    azidt_controller_free(ctrl);
}

static void on_leadership(bool leading, void *ctx)
{
    struct azidt_identity_service *svc = ctx;

    if (leading)
        start_controller(svc);
    else
        stop_controller(svc);
}

static void init_controller_config(const struct azidt_identity_config *cfg,
                                   struct azidt_identity_service *svc)
{
    unsigned char suffix[4] = {0};

    azidt_controller_config_init(&svc->ctrl_cfg);
    svc->ctrl_cfg.resync_interval_ms = cfg->resync_interval_ms;
    svc->ctrl_cfg.sweep_interval_ms = cfg->sweep_interval_ms;
    svc->ctrl_cfg.orphan_grace_ms = cfg->orphan_grace_ms;
    svc->ctrl_cfg.secret_overlap_ms = cfg->secret_overlap_ms;
    svc->ctrl_cfg.workers = cfg->controller_workers;
    if (cfg->instance) {
        snprintf(svc->instance, sizeof(svc->instance), "%s", cfg->instance);
    } else {
        /* Two processes on one host must not share a Lease identity. */
        char host[200] = "";

        gethostname(host, sizeof(host) - 1);
        RAND_bytes(suffix, sizeof(suffix));
        snprintf(svc->instance, sizeof(svc->instance), "%s_%02x%02x%02x%02x",
                 host, suffix[0], suffix[1], suffix[2], suffix[3]);
    }
    svc->ctrl_cfg.instance = svc->instance;
}

/* Run the controller on this replica alone, or only while it holds the
 * leader Lease. */
static azidt_err start_leading(const struct azidt_identity_config *cfg,
                               struct azidt_identity_service *svc, char *err,
                               size_t errlen)
{
    struct azidt_leader_config lcfg;
    azidt_err rc;

    if (!cfg->leader_election) {
        rc = start_controller(svc);
        azidt_metrics_set_leader(rc == AZIDT_OK);
        if (rc)
            snprintf(err, errlen, "cannot start the controller: %s",
                     azidt_strerror(rc));
        return rc;
    }
    azidt_leader_config_init(&lcfg);
    if (cfg->leader_namespace)
        lcfg.namespace_ = cfg->leader_namespace;
    lcfg.identity = svc->instance;
    rc = azidt_leader_start(svc->kube, &lcfg, on_leadership, svc, &svc->leader);
    if (rc)
        snprintf(err, errlen, "cannot start leader election: %s",
                 azidt_strerror(rc));
    return rc;
}

azidt_err azidt_identity_service_start(const struct azidt_identity_config *cfg,
                                       const struct azidt_role_policy *policy,
                                       struct azidt_identity_service **out,
                                       char *err, size_t errlen)
{
    struct azidt_identity_service *svc = calloc(1, sizeof(*svc));
    char cluster_id[256];
    azidt_err rc;

    *out = NULL;
    if (!svc)
        return AZIDT_ERR_NOMEM;
    pthread_mutex_init(&svc->ctrl_lock, NULL);
    init_controller_config(cfg, svc);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = start_kube(cfg, svc, err, errlen);
    if (!rc)
        rc = start_identity_cache(svc, err, errlen);
    if (!rc)
        rc = start_azure(svc, err, errlen);
    if (!rc && cfg->cluster_id)
        snprintf(cluster_id, sizeof(cluster_id), "%s", cfg->cluster_id);
    else if (!rc)
        rc = read_cluster_id(svc->kube, cluster_id, sizeof(cluster_id), err,
                             errlen);
    if (!rc)
        rc = azidt_provisioner_new(svc->azure, cluster_id, &svc->prov);
    /* Before the controller starts, so no reconcile runs unchecked. */
    if (!rc)
        azidt_provisioner_set_role_policy(svc->prov, policy);
    if (!rc)
        rc = start_leading(cfg, svc, err, errlen);
    if (rc) {
        azidt_identity_service_stop(svc);
        return rc;
    }
    AZIDT_LOG_INFO("provisioning enabled", "cluster_id", cluster_id, "graph",
                   azidt_azure_client_config(svc->azure)->graph_endpoint, "arm",
                   azidt_azure_client_config(svc->azure)->arm_endpoint);
    *out = svc;
    return AZIDT_OK;
}

struct azidt_provisioner *
azidt_identity_service_provisioner(const struct azidt_identity_service *svc)
{
    return svc ? svc->prov : NULL;
}

struct azidt_identity_cache *
azidt_identity_service_identities(const struct azidt_identity_service *svc)
{
    return svc ? svc->identities : NULL;
}

struct azidt_kube_client *
azidt_identity_service_kube(const struct azidt_identity_service *svc)
{
    return svc ? svc->kube : NULL;
}

bool azidt_identity_service_ready(void *ctx, char *why, size_t len)
{
    struct azidt_identity_service *svc = ctx;
    bool ready;

    /* A standby replica serves admission without a controller. */
    pthread_mutex_lock(&svc->ctrl_lock);
    ready = !svc->ctrl || azidt_controller_has_synced(svc->ctrl);
    pthread_mutex_unlock(&svc->ctrl_lock);
    if (!ready)
        snprintf(why, len, "AzureIdentityTerminator watch has not listed yet");
    return ready;
}

void azidt_identity_service_stop(struct azidt_identity_service *svc)
{
    if (!svc)
        return;
    /* Stop the controller's writes first, then cancel its Azure calls, so
     * that shutdown takes well under a second instead of waiting for
     * retries to reach their deadlines. */
    pthread_mutex_lock(&svc->ctrl_lock);
    azidt_controller_stop(svc->ctrl);
    pthread_mutex_unlock(&svc->ctrl_lock);
    if (svc->azure)
        azidt_azure_http_cancel(azidt_azure_client_http(svc->azure));
    if (svc->leader)
        azidt_leader_stop(svc->leader);
    else
        stop_controller(svc);
    pthread_mutex_destroy(&svc->ctrl_lock);
    azidt_identity_cache_free(svc->identities);
    azidt_provisioner_free(svc->prov);
    azidt_azure_client_free(svc->azure);
    azidt_kube_client_free(svc->kube);
    free(svc);
}
