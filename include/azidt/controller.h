/*
 * The controller: keeps every AzureIdentityTerminator's Azure and
 * Kubernetes objects in the state its spec asks for.
 *
 * It watches AzureIdentityTerminators and reconciles each one on a worker
 * thread: Azure objects (provisioner.h), a client secret stored in a
 * Secret and rotated before it expires, the AzureIdentity and the
 * AzureIdentityBinding, status and Events. On deletion it removes all of
 * them and then the finalizer. A periodic sweep deletes applications this
 * cluster created whose AzureIdentityTerminator no longer exists.
 */
#ifndef AZIDT_CONTROLLER_H
#define AZIDT_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "azidt/error.h"
#include "azidt/kube_client.h"
#include "azidt/provisioner.h"

struct azidt_controller_config {
    int64_t resync_interval_ms; /* full check of each object */
    int64_t sweep_interval_ms;  /* orphan sweep period */
    int64_t orphan_grace_ms;    /* minimum age of an orphan before removal */
    int64_t secret_overlap_ms;  /* old secret kept after a rotation */
    int64_t step_timeout_ms;    /* budget of one reconcile */
    unsigned workers;           /* reconcile threads */
    const char *instance;       /* reporting instance for Events (copied) */
};

/* Fill cfg with defaults: resync 10m, sweep 10m, grace 10m, overlap 10m,
 * step timeout 60s, 2 workers. */
void azidt_controller_config_init(struct azidt_controller_config *cfg);

struct azidt_controller;

/* Create a controller. kube and prov are borrowed and must outlive it. */
azidt_err azidt_controller_new(struct azidt_kube_client *kube,
                               struct azidt_provisioner *prov,
                               const struct azidt_controller_config *cfg,
                               struct azidt_controller **out);

/* Start the watch, the workers and the sweep. */
azidt_err azidt_controller_start(struct azidt_controller *ctrl);

/* True once the watch has listed every AzureIdentityTerminator. */
bool azidt_controller_has_synced(const struct azidt_controller *ctrl);

/* Tell the workers to stop: a reconcile in progress writes no more
 * status, Events or objects. Returns at once; thread-safe. */
void azidt_controller_stop(struct azidt_controller *ctrl);

/* Stop every thread (a reconcile in progress finishes first) and free the
 * controller. Accepts NULL. */
void azidt_controller_free(struct azidt_controller *ctrl);

#endif
