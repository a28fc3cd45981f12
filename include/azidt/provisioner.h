/*
 * The Azure side of one AzureIdentityTerminator: its application
 * registration, service principal and role assignments.
 *
 * Every write is safe to repeat. The application is upserted under the
 * uniqueName from naming.h, a service principal that exists is adopted,
 * and role assignment names are deterministic, so a retried admission or
 * a second replica ends with one application, one service principal and
 * one set of assignments.
 *
 * Thread-safe: admission workers and the controller share one provisioner.
 */
#ifndef AZIDT_PROVISIONER_H
#define AZIDT_PROVISIONER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "azidt/arm.h"
#include "azidt/azure_client.h"
#include "azidt/error.h"
#include "azidt/graph.h"
#include "azidt/identity_spec.h"
#include "azidt/naming.h"

/* The Azure objects of one AzureIdentityTerminator. */
struct azidt_azure_identity {
    char unique_name[AZIDT_UNIQUE_NAME_SIZE];
    char app_object_id[AZIDT_GRAPH_ID_MAX];
    char client_id[AZIDT_GRAPH_ID_MAX];
    char sp_object_id[AZIDT_GRAPH_ID_MAX];
    bool app_created; /* this call created the application */
    struct azidt_arm_role_assignment *assignments; /* owned */
    size_t assignment_count;
    cJSON *app; /* the application object from Graph (owned) */
};

struct azidt_provisioner;

/* Create a provisioner over client (borrowed, must outlive it) for the
 * cluster cluster_id (copied). */
azidt_err azidt_provisioner_new(struct azidt_azure_client *client,
                                const char *cluster_id,
                                struct azidt_provisioner **out);

void azidt_provisioner_free(struct azidt_provisioner *prov);

/* Enforce policy (borrowed, must outlive prov, NULL allows every role)
 * on the roles of every later azidt_provision_ensure(), which then fails
 * with AZIDT_ERR_FORBIDDEN for a forbidden role. Call before the
 * provisioner is shared between threads. */
struct azidt_role_policy;
void azidt_provisioner_set_role_policy(struct azidt_provisioner *prov,
                                       const struct azidt_role_policy *policy);

struct azidt_azure_client *
azidt_provisioner_client(const struct azidt_provisioner *prov);

const char *azidt_provisioner_cluster_id(const struct azidt_provisioner *prov);

/*
 * Make the Azure objects of spec exist: check that the node resource group
 * exists, resolve every role, upsert the application (tags mark the
 * cluster, the object and its uid), create or adopt its service principal,
 * then assign Reader on the node resource group and each extra role.
 * Assignments of the service principal that spec no longer asks for are
 * removed when prune is true. prune false is admission's mode: there an
 * existing application whose uid tag names another object keeps its tags
 * (the request may be a CREATE of a live name that the apiserver then
 * rejects). The controller, with prune true, writes the stored object's.
 * A role or scope the role policy forbids fails with AZIDT_ERR_FORBIDDEN:
 * with prune false before anything is created; with prune true after the
 * other roles are assigned and the forbidden ones pruned.
 *
 * All work stops at deadline_ms. When a step fails and this call created
 * the application, the call deletes what it created, in reverse order,
 * with time up to undo_deadline_ms (later than deadline_ms), so nothing is
 * left half-made; what cannot be undone in time is left tagged for the
 * reaper. err says which step failed, Azure's reason, and whether
 * retrying helps. On success out is filled (release with
 * azidt_azure_identity_clear).
 */
azidt_err azidt_provision_ensure(struct azidt_provisioner *prov,
                                 const struct azidt_identity_spec *spec,
                                 bool prune, int64_t deadline_ms,
                                 int64_t undo_deadline_ms,
                                 struct azidt_azure_identity *out, char *err,
                                 size_t errlen);

/*
 * Find the application of namespace_/name and its service principal
 * without changing anything. Returns AZIDT_ERR_NOT_FOUND when there is no
 * application. A missing service principal leaves sp_object_id empty.
 */
azidt_err azidt_provision_lookup(struct azidt_provisioner *prov,
                                 const char *namespace_, const char *name,
                                 int64_t deadline_ms,
                                 struct azidt_azure_identity *out, char *err,
                                 size_t errlen);

/*
 * Remove the role assignments of the application's service principal
 * (first: a deleted principal would leave them behind), then delete the
 * application permanently, which also removes its principal and secrets.
 * Objects already gone count as deleted.
 */
azidt_err azidt_provision_teardown_app(struct azidt_provisioner *prov,
                                       const char *app_object_id,
                                       const char *client_id,
                                       int64_t deadline_ms, char *err,
                                       size_t errlen);

/* azidt_provision_teardown_app for the application of namespace_/name;
 * AZIDT_OK when it does not exist. */
azidt_err azidt_provision_teardown(struct azidt_provisioner *prov,
                                   const char *namespace_, const char *name,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen);

/* Write the ARM scope of resource group rg in the configured subscription
 * into out. */
azidt_err azidt_provision_group_scope(const struct azidt_provisioner *prov,
                                      const char *rg, char *out, size_t size);

void azidt_azure_identity_clear(struct azidt_azure_identity *identity);

#endif
