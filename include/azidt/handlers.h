/*
 * Admission handlers, one per webhook route.
 *
 * The HTTP server parses the AdmissionReview, picks the handler for the
 * route, passes it a zero-initialised response and serialises what the
 * handler filled in. Every handler always fills resp (allowed, or denied
 * with a code and a message), also when it runs out of memory (a 500
 * denial). ctx points to the server's struct azidt_handler_ctx, which the
 * handlers only read, so they are safe to call from several threads at
 * once.
 *
 * Routes (constants.h):
 *   AZIDT_ROUTE_MUTATE_AZIDT   -> azidt_handle_azidt_mutate
 *   AZIDT_ROUTE_VALIDATE_AZIDT -> azidt_handle_azidt_validate
 *   AZIDT_ROUTE_MUTATE_PODS    -> azidt_handle_pod_mutate
 *   AZIDT_ROUTE_VALIDATE_PODS  -> azidt_handle_pod_validate
 */
#ifndef AZIDT_HANDLERS_H
#define AZIDT_HANDLERS_H

#include <stdbool.h>

#include "azidt/admission.h"
#include "azidt/config.h"
#include "azidt/validate.h"

/*
 * State the handlers share. Initialise with azidt_handler_ctx_init() and
 * then override fields from configuration. Later parts (the provisioner,
 * the identity cache that pod admission reads, the cluster policy) are
 * added as further members, so callers must always go through
 * azidt_handler_ctx_init() and never list the members in an initializer.
 */
struct azidt_provisioner;
struct azidt_identity_cache;
struct azidt_role_policy;

struct azidt_handler_ctx {
    struct azidt_validate_limits limits;
    /* Creates the Azure objects of an admitted CREATE; NULL validates
     * only. */
    struct azidt_provisioner *provisioner;
    /* Part of the admission deadline kept to undo a failed create. */
    int64_t undo_reserve_ms;
    /* AzureIdentityTerminators and AzureIdentityBindings that pod
     * admission reads; NULL admits every pod unchanged. */
    struct azidt_identity_cache *identities;
    /* Pods that name a not-ready AzureIdentityTerminator. */
    enum azidt_not_ready_pods not_ready_pods;
    /* Roles and scopes spec.roleAssignments may grant; NULL allows all. */
    const struct azidt_role_policy *role_policy;
};

/* Set every member to its default: limits from
 * azidt_validate_limits_init(). */
void azidt_handler_ctx_init(struct azidt_handler_ctx *ctx);

/*
 * Mutating webhook for AzureIdentityTerminator: adds the finalizer
 * AZIDT_FINALIZER on CREATE and UPDATE when it is absent and the object is
 * not being deleted. A replayed request yields no second entry.
 */
void azidt_handle_azidt_mutate(void *ctx,
                               const struct azidt_admission_request *req,
                               struct azidt_admission_response *resp);

/*
 * Validating webhook for AzureIdentityTerminator: checks the spec on CREATE
 * and UPDATE and the immutable fields on UPDATE. Denials use code 422 and
 * list every violation. Then, on CREATE and on an UPDATE that changes the
 * spec: 403 when spec.roleAssignments breaks the role policy; 409 when a
 * CREATE names an object the identity cache already holds, or when the
 * podSelector (on CREATE, or changed by an UPDATE) is selected by an
 * AzureIdentityBinding of another namespace; 503 while the identity cache
 * has not synced. None of these calls Azure.
 */
void azidt_handle_azidt_validate(void *ctx,
                                 const struct azidt_admission_request *req,
                                 struct azidt_admission_response *resp);

/*
 * True when azidt_handle_azidt_validate() may call Azure for req, so the
 * server must run it on the worker pool rather than inline: a CREATE that
 * is not a dry run.
 */
bool azidt_azidt_validate_needs_worker(
    const struct azidt_admission_request *req);

/*
 * Mutating webhook for pods. On CREATE, a pod labelled
 * azidterminator.io/identity: <name> gets the aadpodidbinding label set to
 * the spec.podSelector of AzureIdentityTerminator <name> in its namespace.
 * Denied with 403 when that identity is missing, being deleted or has no
 * valid podSelector, and when it is not Ready unless not_ready_pods is
 * AZIDT_NOT_READY_PODS_WARN (then admitted with a warning). Denied with
 * 503 until the identity cache has synced. A pod that already carries the
 * right value gets no patch, so a replayed request changes nothing.
 * Reads the identity cache only: no network, no waiting.
 */
void azidt_handle_pod_mutate(void *ctx,
                             const struct azidt_admission_request *req,
                             struct azidt_admission_response *resp);

/*
 * Validating webhook for pods, on CREATE and on an UPDATE that changes the
 * aadpodidbinding label. A value that only AzureIdentityBindings of other
 * namespaces select is denied with 403, and the message does not name
 * those namespaces. A value bound in the pod's namespace is allowed; a
 * value bound nowhere is allowed with a warning. Denied with 503 until the
 * identity cache has synced.
 */
void azidt_handle_pod_validate(void *ctx,
                               const struct azidt_admission_request *req,
                               struct azidt_admission_response *resp);

#endif
