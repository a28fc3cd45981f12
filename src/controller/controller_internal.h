/*
 * Shared between the controller's source files; not part of the API.
 */
#ifndef AZIDT_CONTROLLER_INTERNAL_H
#define AZIDT_CONTROLLER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/controller.h"
#include "azidt/identity_spec.h"
#include "azidt/kube_cache.h"
#include "azidt/kube_client.h"
#include "azidt/provisioner.h"

extern const struct azidt_kube_resource azidt_res_terminators;
extern const struct azidt_kube_resource azidt_res_secrets;
extern const struct azidt_kube_resource azidt_res_identities;
extern const struct azidt_kube_resource azidt_res_bindings;

struct queue_entry {
    char *key; /* "namespace/name" */
    int64_t due_ms;
    bool running; /* a worker is reconciling this key */
    bool dirty;   /* enqueued again while running */
    int64_t dirty_due_ms;
    unsigned failures; /* reconciles failed in a row, for the backoff */
};

struct azidt_controller {
    struct azidt_controller_config cfg;
    char *instance;
    struct azidt_kube_client *kube;
    struct azidt_provisioner *prov;
    struct azidt_kube_cache *cache;
    /* Caches of the Secrets, AzureIdentities and bindings this product
     * made, so that one deleted by hand is recreated at once. Each record
     * is the name of the owning AzureIdentityTerminator. */
    struct azidt_kube_cache *owned[3];

    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct queue_entry *queue;
    size_t queue_len;
    size_t queue_cap;
    bool stopping;

    pthread_t *workers;
    unsigned worker_count;
    pthread_t sweeper;
    bool sweeper_started;
};

/* Outcome of one reconcile: when to look at the object again, and
 * whether it failed. */
struct reconcile_result {
    int64_t requeue_after_ms; /* 0 means the resync interval */
    bool failed;              /* a step failed, for the metrics */
};

/* True once the controller is stopping: a reconcile then writes nothing
 * more, because another replica may already lead. */
bool controller_stopping(struct azidt_controller *ctrl);

/* Queue key for a reconcile after delay_ms. */
void controller_enqueue(struct azidt_controller *ctrl, const char *key,
                        int64_t delay_ms);

/* Reconcile the object of key (reconcile.c). */
void controller_reconcile(struct azidt_controller *ctrl, const char *key,
                          struct reconcile_result *result);

/* Remove orphaned applications once (sweep.c). */
void controller_sweep_once(struct azidt_controller *ctrl);

/* Delete object (a KIND such as "Secret" named spec->identity_name), left
 * by an earlier AzureIdentityTerminator of the same name, so it can be
 * made again for this one. An object already gone counts as deleted.
 * Fills err on failure (reconcile.c). */
azidt_err controller_delete_previous(struct azidt_controller *ctrl,
                                     const struct azidt_kube_resource *res,
                                     const char *kind,
                                     const struct azidt_identity_spec *spec,
                                     const cJSON *object, int64_t deadline_ms,
                                     char *err, size_t errlen);

/* Post an Event about the AzureIdentityTerminator object; failures are
 * logged only. */
void controller_event(struct azidt_controller *ctrl, const cJSON *object,
                      const char *type, const char *reason,
                      const char *message);

/* RFC 3339 helpers (UTC). Parse returns false on malformed text. */
void controller_format_time(int64_t wall_ms, char *out, size_t size);
bool controller_parse_time(const char *text, int64_t *wall_ms);

#endif
