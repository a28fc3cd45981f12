/*
 * Names and keys that tie Azure objects to one AzureIdentityTerminator.
 *
 * A display name is not unique in Azure AD, so the product never looks an
 * application up by it. Each application instead gets a uniqueName derived
 * from the cluster id, namespace and name, which makes a retried create
 * find the application the first attempt made. Tags let the reaper list
 * what this cluster created and find the object each one belongs to.
 */
#ifndef AZIDT_NAMING_H
#define AZIDT_NAMING_H

#include <stddef.h>

#include "azidt/error.h"

/* "azidt-" + 32 hex digits + NUL. */
#define AZIDT_UNIQUE_NAME_SIZE 39

/* Longest tag the product writes: prefix plus a 253-byte namespace/name. */
#define AZIDT_TAG_SIZE 320

/*
 * Write the application uniqueName for cluster_id/namespace_/name into out:
 * "azidt-" followed by the first 32 hex digits of
 * SHA-256("<cluster_id>/<namespace>/<name>"). Returns AZIDT_ERR_INVALID if
 * an argument is NULL or empty.
 */
azidt_err azidt_naming_unique_name(const char *cluster_id,
                                   const char *namespace_, const char *name,
                                   char out[AZIDT_UNIQUE_NAME_SIZE]);

/* Write "<prefix><value>" into out (size bytes). Returns AZIDT_ERR_INVALID
 * when it does not fit. */
azidt_err azidt_naming_tag(const char *prefix, const char *value, char *out,
                           size_t size);

/* Write "<namespace>/<name>" into out (size bytes). Returns
 * AZIDT_ERR_INVALID when it does not fit. */
azidt_err azidt_naming_object_key(const char *namespace_, const char *name,
                                  char *out, size_t size);

#endif
