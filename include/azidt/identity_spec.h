/*
 * The parts of an AzureIdentityTerminator that provisioning needs, taken
 * from an object that already passed validation (validate.h).
 *
 * A spec owns all its strings; release it with azidt_identity_spec_clear().
 */
#ifndef AZIDT_IDENTITY_SPEC_H
#define AZIDT_IDENTITY_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"

/* One role granted on one scope. */
struct azidt_role_request {
    char *role;  /* built-in name, GUID or role definition id */
    char *scope; /* ARM scope */
};

struct azidt_identity_spec {
    char *namespace_;
    char *name;
    char *uid; /* "" when the object has none yet (mutating admission) */
    int64_t generation;
    char *display_name;
    char *identity_name; /* names the Secret, AzureIdentity and binding */
    char *resource_group;
    char *pod_selector;
    int64_t secret_duration_ms;
    int64_t renew_before_ms; /* one third of the duration by default */
    char **tags;             /* service principal tags */
    size_t tag_count;
    struct azidt_role_request *roles; /* spec.roleAssignments */
    size_t role_count;
};

/*
 * Fill spec from object (an AzureIdentityTerminator). Returns
 * AZIDT_ERR_INVALID with the field in err when a required field is missing
 * or malformed, AZIDT_ERR_NOMEM, or AZIDT_OK. On failure spec is cleared.
 */
azidt_err azidt_identity_spec_parse(const cJSON *object,
                                    struct azidt_identity_spec *spec, char *err,
                                    size_t errlen);

/* Free what spec owns and zero it. Accepts a zeroed spec. */
void azidt_identity_spec_clear(struct azidt_identity_spec *spec);

#endif
