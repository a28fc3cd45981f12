/*
 * Everything provisioning needs at run time, started and stopped as one:
 * the Kubernetes client, the Azure client, the provisioner the admission
 * handlers call, the controller, and the identity cache that pod admission
 * reads. The controller runs only while this replica holds the leader
 * Lease (leader.h), unless leader election is disabled; the identity
 * cache runs on every replica.
 */
#ifndef AZIDT_IDENTITY_SERVICE_H
#define AZIDT_IDENTITY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "azidt/config.h"
#include "azidt/error.h"
#include "azidt/kube_client.h"
#include "azidt/provisioner.h"

struct azidt_identity_service;

/*
 * Load the Kubernetes credentials (cfg->kubeconfig, else in-cluster) and
 * the Azure settings (AZURE_* variables), find the cluster id (cfg or the
 * kube-system namespace uid), and start leader election or the
 * controller. On failure err
 * names the setting to fix and nothing keeps running.
 */
struct azidt_role_policy;
azidt_err azidt_identity_service_start(const struct azidt_identity_config *cfg,
                                       const struct azidt_role_policy *policy,
                                       struct azidt_identity_service **out,
                                       char *err, size_t errlen);

struct azidt_provisioner *
azidt_identity_service_provisioner(const struct azidt_identity_service *svc);

/* The cache of AzureIdentityTerminators and AzureIdentityBindings for pod
 * admission; /readyz should wait for azidt_identity_cache_ready(). */
struct azidt_identity_cache *
azidt_identity_service_identities(const struct azidt_identity_service *svc);

struct azidt_kube_client *
azidt_identity_service_kube(const struct azidt_identity_service *svc);

/* Readiness check for /readyz: true once the controller's watch has
 * listed every AzureIdentityTerminator. Matches azidt_ready_fn. */
bool azidt_identity_service_ready(void *svc, char *why, size_t len);

/* Stop the controller and free everything. Accepts NULL. */
void azidt_identity_service_stop(struct azidt_identity_service *svc);

#endif
