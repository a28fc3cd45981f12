/*
 * Pod labels that attach an AzureIdentityTerminator to a pod.
 *
 * A pod requests an identity with the label AZIDT_POD_IDENTITY_LABEL
 * (azidterminator.io/identity: <name>). The pod mutating webhook looks up
 * that AzureIdentityTerminator in the pod's namespace and sets the
 * aad-pod-identity label AAD_POD_BINDING_LABEL to its spec.podSelector, so
 * that the AzureIdentityBinding selects the pod. The functions here are the
 * pure part of that: they read the pod and build the patch.
 *
 * All functions are thread-safe.
 */
#ifndef AZIDT_PODLABEL_H
#define AZIDT_PODLABEL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"

/* Return the string value of label key on pod (metadata.labels[key]), or
 * NULL when the pod has no such label or its value is not a string. The
 * result points into pod. */
const char *azidt_podlabel_get(const cJSON *pod, const char *key);

/*
 * Build the JSONPatch that sets metadata.labels.aadpodidbinding to
 * selector on pod, creating metadata.labels (and metadata) when absent.
 * On success *patch is a new array that the caller frees with
 * cJSON_Delete(), or NULL when the label already has that value (so a
 * replayed request gets no patch). *replaced is set when the pod carried
 * a different value that the patch overwrites, so the caller can warn.
 * Returns AZIDT_ERR_INVALID for a NULL argument, AZIDT_ERR_NOMEM when out
 * of memory (then *patch is NULL).
 */
azidt_err azidt_podlabel_binding_patch(const cJSON *pod, const char *selector,
                                       cJSON **patch, bool *replaced);

#endif
