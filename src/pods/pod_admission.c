/*
 * Pod admission: the hot path of every cluster that installs the webhook.
 * Both handlers read only the identity cache, so they never wait for the
 * network. They allocate only the response's message, warnings and
 * patch.
 */
#include <string.h>

#include "azidt/constants.h"
#include "azidt/handlers.h"
#include "azidt/identity_cache.h"
#include "azidt/log.h"
#include "azidt/podlabel.h"

/* Label values in messages are cut to this many characters: a valid one
 * has at most 63, and the apiserver checks labels only after mutation. */
#define VALUE_SHOWN "%.80s"

static bool is_pod(const struct azidt_admission_request *req)
{
    return req->group[0] == '\0' && strcmp(req->kind, "Pod") == 0 &&
           !req->subresource;
}

static void deny_nomem(const struct azidt_admission_request *req,
                       struct azidt_admission_response *resp)
{
    AZIDT_LOG_ERROR("pod admission ran out of memory", "uid", req->uid,
                    "namespace", req->namespace_, "name", req->name);
    azidt_admission_response_clear(resp);
    azidt_admission_deny(resp, 500, "internal error: out of memory");
}

/* Deny with 503 until the cache has synced, and with 500 after its index
 * failed, rather than admit a pod that may use another namespace's
 * identity. Returns true when the cache is usable. */
static bool cache_usable(struct azidt_identity_cache *cache,
                         struct azidt_admission_response *resp)
{
    if (!azidt_identity_cache_synced(cache)) {
        azidt_admission_deny(resp, 503,
                             "the webhook has not loaded the "
                             "AzureIdentityTerminators and "
                             "AzureIdentityBindings yet; retry in a few "
                             "seconds");
        return false;
    }
    if (!azidt_identity_cache_healthy(cache)) {
        azidt_admission_deny(resp, 500,
                             "the webhook's AzureIdentityBinding index is "
                             "incomplete after running out of memory; "
                             "restart the webhook");
        return false;
    }
    return true;
}

/* Deny, or warn under AZIDT_NOT_READY_PODS_WARN, for an identity that is
 * not Ready. Returns true when the pod may still get the label. */
static bool check_ready(const struct azidt_handler_ctx *hctx,
                        const struct azidt_admission_request *req,
                        const char *name,
                        const struct azidt_identity_view *view,
                        struct azidt_admission_response *resp)
{
    const char *reason = view->reason[0] ? view->reason : "Pending";
    const char *message =
        view->message[0] ? view->message : "it is still being provisioned";

    if (view->ready == AZIDT_IDENTITY_READY_TRUE)
        return true;
    if (hctx->not_ready_pods == AZIDT_NOT_READY_PODS_WARN) {
        if (azidt_admission_warn(
                resp,
                "AzureIdentityTerminator %s/" VALUE_SHOWN
                " is not Ready (%s: %s); the pod cannot get an Azure token "
                "until it is",
                req->namespace_, name, reason, message))
            deny_nomem(req, resp);
        return resp->allowed;
    }
    azidt_admission_deny(
        resp, 403,
        "AzureIdentityTerminator %s/" VALUE_SHOWN
        ", named by the pod's label " AZIDT_POD_IDENTITY_LABEL
        ", is not Ready (%s: %s); create the pod once "
        "\"kubectl get azidt -n %s " VALUE_SHOWN "\" shows Ready True",
        req->namespace_, name, reason, message, req->namespace_, name);
    return false;
}

/* Find the identity the pod names and check that a pod may use it now.
 * Fills resp with the denial and returns false when it may not. */
static bool find_usable_identity(const struct azidt_handler_ctx *hctx,
                                 const struct azidt_admission_request *req,
                                 const char *name,
                                 struct azidt_identity_view *view,
                                 struct azidt_admission_response *resp)
{
    if (azidt_identity_cache_find(hctx->identities, req->namespace_, name,
                                  view)) {
        azidt_admission_deny(
            resp, 403,
            "the pod's label " AZIDT_POD_IDENTITY_LABEL "=" VALUE_SHOWN
            " names an AzureIdentityTerminator that does not exist in "
            "namespace %s; create it there first, or set the label to one "
            "that \"kubectl get azidt -n %s\" lists",
            name, req->namespace_, req->namespace_);
        return false;
    }
    if (view->deleting) {
        azidt_admission_deny(
            resp, 403,
            "AzureIdentityTerminator %s/" VALUE_SHOWN
            ", named by the pod's label " AZIDT_POD_IDENTITY_LABEL
            ", is being deleted; use another identity or "
            "remove the label",
            req->namespace_, name);
        return false;
    }
    if (!view->pod_selector[0]) {
        azidt_admission_deny(
            resp, 403,
            "AzureIdentityTerminator %s/" VALUE_SHOWN
            ", named by the pod's label " AZIDT_POD_IDENTITY_LABEL
            ", has no valid spec.podSelector; set it to a "
            "label value such as \"azure-kv-pods\"",
            req->namespace_, name);
        return false;
    }
    return check_ready(hctx, req, name, view, resp);
}

void azidt_handle_pod_mutate(void *ctx,
                             const struct azidt_admission_request *req,
                             struct azidt_admission_response *resp)
{
    const struct azidt_handler_ctx *hctx = ctx;
    struct azidt_identity_view view;
    const char *name;
    const char *previous;
    bool replaced = false;

    azidt_admission_allow(resp);
    if (!hctx || !hctx->identities || !is_pod(req) ||
        req->operation != AZIDT_OP_CREATE)
        return;
    name = azidt_podlabel_get(req->object, AZIDT_POD_IDENTITY_LABEL);
    if (!name || !cache_usable(hctx->identities, resp))
        return;
    if (!find_usable_identity(hctx, req, name, &view, resp))
        return;

    previous = azidt_podlabel_get(req->object, AAD_POD_BINDING_LABEL);
    if (azidt_podlabel_binding_patch(req->object, view.pod_selector,
                                     &resp->patch, &replaced)) {
        deny_nomem(req, resp);
        return;
    }
    if (replaced &&
        azidt_admission_warn(resp,
                             "label " AAD_POD_BINDING_LABEL "=" VALUE_SHOWN
                             " replaced by %s, the podSelector of "
                             "AzureIdentityTerminator %s/" VALUE_SHOWN,
                             previous ? previous : "", view.pod_selector,
                             req->namespace_, name))
        deny_nomem(req, resp);
}

void azidt_handle_pod_validate(void *ctx,
                               const struct azidt_admission_request *req,
                               struct azidt_admission_response *resp)
{
    const struct azidt_handler_ctx *hctx = ctx;
    const char *value;
    const char *before;

    azidt_admission_allow(resp);
    if (!hctx || !hctx->identities || !is_pod(req) ||
        (req->operation != AZIDT_OP_CREATE &&
         req->operation != AZIDT_OP_UPDATE))
        return;
    value = azidt_podlabel_get(req->object, AAD_POD_BINDING_LABEL);
    if (!value)
        return;
    /* An update that keeps the label passes even when the binding changed
     * since, so a running pod can still be updated and deleted. */
    before = azidt_podlabel_get(req->old_object, AAD_POD_BINDING_LABEL);
    if (req->operation == AZIDT_OP_UPDATE && before &&
        strcmp(before, value) == 0)
        return;
    if (!cache_usable(hctx->identities, resp))
        return;

    switch (azidt_identity_cache_binding_scope(hctx->identities, value,
                                               req->namespace_)) {
    case AZIDT_BINDING_IN_NAMESPACE:
        /* NOTE: the value may be bound in other namespaces too. By default
         * aad-pod-identity matches bindings across namespaces, so the pod
         * then also gets those bindings' identities, unless their
         * AzureIdentity carries the namespaced Behavior annotation (as the
         * ones created here do) or MIC and NMI run with --forceNamespaced
         * (aad-pod-identity docs, "Match Pods in the Namespace"). */
        return;
    case AZIDT_BINDING_ELSEWHERE_ONLY:
        azidt_admission_deny(
            resp, 403,
            "the pod's label " AAD_POD_BINDING_LABEL "=" VALUE_SHOWN
            " is not bound in namespace %s: no AzureIdentityBinding in this "
            "namespace selects it, and a pod may use only identities bound "
            "in its own namespace; remove the label, or label the "
            "pod " AZIDT_POD_IDENTITY_LABEL
            "=<name> of an AzureIdentityTerminator in namespace %s",
            value, req->namespace_, req->namespace_);
        return;
    case AZIDT_BINDING_NOWHERE:
        if (azidt_admission_warn(
                resp,
                "no AzureIdentityBinding selects label " AAD_POD_BINDING_LABEL
                "=" VALUE_SHOWN " yet; the pod gets no Azure identity until "
                "one in namespace %s does",
                value, req->namespace_))
            deny_nomem(req, resp);
        return;
    }
}
