/*
 * Which roles, at which scopes, an AzureIdentityTerminator may grant.
 *
 * Three lists from the configuration: denied roles (names or GUIDs),
 * allowed roles (empty: every role not denied) and allowed scope prefixes
 * (empty: no scope rule). A role named by a built-in name matches the same
 * role given by its GUID or role definition id, and the other way round;
 * names and GUIDs compare case-insensitively. A custom role is known by
 * what the list says, so list custom roles by GUID: the provisioner
 * compares the GUID it resolved.
 *
 * Admission checks the text of the spec; the provisioner checks again
 * with the resolved role definition id, so an object stored under an older
 * policy, or admitted without this webhook, cannot get a denied role.
 *
 * Immutable after azidt_role_policy_new(), so any thread may read it.
 */
#ifndef AZIDT_ROLE_POLICY_H
#define AZIDT_ROLE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "azidt/error.h"

struct azidt_role_policy;

/* Outcome of a role check. */
enum azidt_role_verdict {
    AZIDT_ROLE_ALLOWED,
    AZIDT_ROLE_DENIED,
    /* Only at admission: a custom role name, which only its resolved GUID
     * can match against --allowed-roles, so the provisioner decides. */
    AZIDT_ROLE_UNDECIDED,
};

/*
 * Build a policy from comma-separated lists (spaces around items are
 * ignored; NULL or "" is an empty list). Returns AZIDT_ERR_NOMEM, or
 * AZIDT_ERR_INVALID with a message in err when a scope prefix does not
 * start with '/' or contains "..".
 */
azidt_err azidt_role_policy_new(const char *denied_roles,
                                const char *allowed_roles,
                                const char *scope_prefixes,
                                struct azidt_role_policy **out, char *err,
                                size_t errlen);

void azidt_role_policy_free(struct azidt_role_policy *policy);

/*
 * Check role (the text of spec.roleAssignments[i].role). resolved_id is
 * the role definition id the provisioner resolved, or NULL at admission;
 * with it the verdict is never AZIDT_ROLE_UNDECIDED. On a denial, why
 * names the role and the flag. A NULL policy allows everything.
 */
enum azidt_role_verdict
azidt_role_policy_check_role(const struct azidt_role_policy *policy,
                             const char *role, const char *resolved_id,
                             char *why, size_t whylen);

/*
 * True when scope may be granted: it contains no ".." and starts with one
 * of the allowed prefixes (case-insensitively). Otherwise why names the
 * scope and the rule. A NULL policy allows everything.
 */
bool azidt_role_policy_check_scope(const struct azidt_role_policy *policy,
                                   const char *scope, char *why, size_t whylen);

#endif
