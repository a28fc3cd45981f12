/*
 * In-memory view of the identities pods may use, for pod admission.
 *
 * Two azidt_kube_cache instances, kept current by watches:
 * - AzureIdentityTerminators (azidterminator.io/v1alpha1), each projected
 *   to its spec.podSelector, its Ready condition and whether it is being
 *   deleted;
 * - AzureIdentityBindings (aadpodidentity.k8s.io/v1) in every namespace,
 *   each projected to its spec.selector. A second index maps each selector
 *   to the namespaces whose bindings use it, so that "is aadpodidbinding=V
 *   bound in namespace N, or only in other namespaces" is one hash lookup.
 *
 * Lookups are thread-safe, take read locks only, never wait for the
 * network and allocate nothing. Only the two watch threads write.
 */
#ifndef AZIDT_IDENTITY_CACHE_H
#define AZIDT_IDENTITY_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "azidt/error.h"
#include "azidt/kube_cache.h"
#include "azidt/kube_client.h"

/* Status of an AzureIdentityTerminator's Ready condition. */
enum azidt_identity_ready {
    AZIDT_IDENTITY_READY_UNKNOWN, /* no Ready condition, or status Unknown */
    AZIDT_IDENTITY_READY_TRUE,
    AZIDT_IDENTITY_READY_FALSE,
};

/* Longest Ready reason and message kept; longer ones are cut. */
#define AZIDT_IDENTITY_REASON_MAX 127
#define AZIDT_IDENTITY_MESSAGE_MAX 255

/* Fields of one AzureIdentityTerminator that pod admission reads. */
struct azidt_identity_view {
    /* spec.podSelector; "" when it is missing or longer than a label value
     * may be (63 characters). */
    char pod_selector[64];
    enum azidt_identity_ready ready;
    char reason[AZIDT_IDENTITY_REASON_MAX + 1];
    char message[AZIDT_IDENTITY_MESSAGE_MAX + 1];
    /* metadata.deletionTimestamp is set. */
    bool deleting;
    /* spec.azureIdentityName, cut to 253 characters (a DNS subdomain). */
    char identity_name[254];
};

/* Namespaces whose AzureIdentityBindings select an aadpodidbinding value,
 * seen from one namespace. */
enum azidt_binding_scope {
    AZIDT_BINDING_NOWHERE,        /* no AzureIdentityBinding selects it */
    AZIDT_BINDING_IN_NAMESPACE,   /* a binding in the namespace selects it */
    AZIDT_BINDING_ELSEWHERE_ONLY, /* only bindings of other namespaces do */
};

struct azidt_identity_cache;

/* Create both caches without starting their watches (tests feed them
 * through azidt_identity_cache_terminators() and _bindings()). Returns
 * AZIDT_ERR_NOMEM on failure. */
azidt_err azidt_identity_cache_new(struct azidt_identity_cache **out);

/* Start both watches. client must outlive the cache. Call at most once.
 * On failure one watch may have started: azidt_identity_cache_free()
 * stops it. */
azidt_err azidt_identity_cache_start(struct azidt_identity_cache *cache,
                                     struct azidt_kube_client *client);

/* The underlying caches, for tests to feed with azidt_kube_cache_apply()
 * and azidt_kube_cache_replace(). */
struct azidt_kube_cache *
azidt_identity_cache_terminators(struct azidt_identity_cache *cache);
struct azidt_kube_cache *
azidt_identity_cache_bindings(struct azidt_identity_cache *cache);

/* True once both caches hold their first full list. Thread-safe. */
bool azidt_identity_cache_synced(struct azidt_identity_cache *cache);

/*
 * False after the selector index failed to record a binding (out of
 * memory): its results may then be wrong until the process restarts, and
 * pod admission denies rather than guess. Thread-safe.
 */
bool azidt_identity_cache_healthy(struct azidt_identity_cache *cache);

/* Readiness check for /readyz (matches azidt_ready_fn): true once both
 * caches have synced and the selector index is healthy. */
bool azidt_identity_cache_ready(void *cache, char *why, size_t len);

/*
 * Copy the AzureIdentityTerminator namespace/name into *out. Returns
 * AZIDT_OK or AZIDT_ERR_NOT_FOUND (then *out is zeroed). Thread-safe,
 * allocates nothing.
 */
azidt_err azidt_identity_cache_find(struct azidt_identity_cache *cache,
                                    const char *namespace, const char *name,
                                    struct azidt_identity_view *out);

/* Tell where selector is bound, seen from namespace. Thread-safe,
 * allocates nothing. */
enum azidt_binding_scope
azidt_identity_cache_binding_scope(struct azidt_identity_cache *cache,
                                   const char *selector, const char *namespace);

/* True when an AzureIdentityBinding of a namespace other than namespace
 * selects selector, whether or not one in namespace does too.
 * Thread-safe, allocates nothing. */
bool azidt_identity_cache_bound_elsewhere(struct azidt_identity_cache *cache,
                                          const char *selector,
                                          const char *namespace);

/* Number of AzureIdentityTerminators and AzureIdentityBindings held. */
size_t azidt_identity_cache_identity_count(struct azidt_identity_cache *cache);
size_t azidt_identity_cache_binding_count(struct azidt_identity_cache *cache);

/* Stop both watches and free everything. NULL is a no-op. */
/*
 * Find another AzureIdentityTerminator in namespace_ (not named
 * exclude_name) whose spec.azureIdentityName is identity_name, and copy its
 * name into owner (size bytes). Returns AZIDT_OK when one exists, else
 * AZIDT_ERR_NOT_FOUND. It scans the namespace's objects, so it is meant
 * for AzureIdentityTerminator admission, not for the pod hot path.
 */
azidt_err azidt_identity_cache_find_identity_name(
    struct azidt_identity_cache *cache, const char *namespace_,
    const char *identity_name, const char *exclude_name, char *owner,
    size_t size);

void azidt_identity_cache_free(struct azidt_identity_cache *cache);

#endif
