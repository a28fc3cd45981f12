/*
 * Azure Resource Manager calls: role definitions, role assignments
 * (Microsoft.Authorization, api-version 2022-04-01) and resource groups
 * (api-version 2021-04-01).
 *
 * Every call takes a monotonic deadline, retries throttling and transient
 * failures inside it (azure_http.h) and writes a message into err on
 * failure: what failed, ARM's error code and message, and whether
 * retrying helps. Role assignment creates are safe to repeat: the name is
 * a UUIDv5 of scope, role and principal, and an equal assignment that
 * exists under another name is adopted.
 *
 * Thread-safe: all functions may run concurrently on one client.
 */
#ifndef AZIDT_ARM_H
#define AZIDT_ARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/azure_client.h"
#include "azidt/error.h"
#include "azidt/uuid.h"

#define AZIDT_ARM_AUTHORIZATION_API_VERSION "2022-04-01"
#define AZIDT_ARM_RESOURCES_API_VERSION "2021-04-01"

/* Maximum length of a scope or resource id. */
#define AZIDT_ARM_ID_MAX 1024

/* Namespace of role assignment names: the UUIDv5 of the URL
 * "https://azidterminator.io/role-assignments" in the RFC 9562 URL
 * namespace. Changing it would orphan every existing assignment. */
#define AZIDT_ARM_ROLE_ASSIGNMENT_NAMESPACE                                    \
    "075c4e4b-9bb6-5f3e-9b4b-9ac7883620db"

struct azidt_arm_role_assignment {
    char id[AZIDT_ARM_ID_MAX + 128]; /* full resource id */
    char name[AZIDT_UUID_TEXT_LEN];
    char scope[AZIDT_ARM_ID_MAX];
    char role_definition_id[AZIDT_ARM_ID_MAX];
    char principal_id[64];
    char principal_type[32];
};

/*
 * Return the GUID of the built-in role name (Reader, Contributor, Managed
 * Identity Operator, Virtual Machine Contributor, Key Vault Secrets User;
 * compared case-insensitively), or NULL. Built-in GUIDs are the same in
 * every tenant.
 */
const char *azidt_arm_builtin_role_guid(const char *name);

/* Return the name of the built-in role whose GUID is guid (compared
 * case-insensitively), or NULL when the table above does not hold it. */
const char *azidt_arm_builtin_role_name(const char *guid);

/* Return the trailing GUID of a role definition id, or the id itself when
 * it has no '/'. Role ids are compared by this GUID, since the same role
 * appears with and without a /subscriptions/{sub} prefix. */
const char *azidt_arm_role_guid(const char *role_definition_id);

/*
 * Write into out the id
 * /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}
 * of role, which is a built-in name, a GUID, a role definition id (copied)
 * or the name of a custom role, looked up with the roleDefinitions list
 * call. Returns AZIDT_ERR_NOT_FOUND when no role has that name.
 */
azidt_err azidt_arm_role_definition_id(struct azidt_azure_client *client,
                                       const char *role, int64_t deadline_ms,
                                       char *out, size_t outlen, char *err,
                                       size_t errlen);

/*
 * Write the deterministic role assignment name for (scope, role definition,
 * principal): the UUIDv5 in AZIDT_ARM_ROLE_ASSIGNMENT_NAMESPACE of
 * "<scope>|<role guid>|<principal id>", all lowercase, the scope without a
 * trailing slash.
 */
void azidt_arm_role_assignment_name(const char *scope,
                                    const char *role_definition_id,
                                    const char *principal_id,
                                    char out[AZIDT_UUID_TEXT_LEN]);

/*
 * Assign role_definition_id to the service principal with object id
 * principal_id at scope (such as /subscriptions/{sub}/resourceGroups/{rg})
 * with principalType ServicePrincipal, under the deterministic name.
 * PrincipalNotFound (the principal is still replicating) is retried within
 * the deadline. On 409 RoleAssignmentExists, the client lists the
 * principal's assignments and adopts the equal one. *created is false
 * when an existing assignment was kept.
 */
azidt_err azidt_arm_role_assignment_create(
    struct azidt_azure_client *client, const char *scope,
    const char *role_definition_id, const char *principal_id,
    int64_t deadline_ms, struct azidt_arm_role_assignment *out, bool *created,
    char *err, size_t errlen);

/* Delete the role assignment with full id id; 404 and 204 (already gone)
 * count as deleted. */
azidt_err azidt_arm_role_assignment_delete(struct azidt_azure_client *client,
                                           const char *id, int64_t deadline_ms,
                                           char *err, size_t errlen);

/*
 * List the role assignments of principal_id visible at scope (at, above
 * and below it), following nextLink. On success *items is a malloc'd
 * array of *count entries for the caller to free() (NULL when empty).
 */
azidt_err
azidt_arm_role_assignment_list(struct azidt_azure_client *client,
                               const char *scope, const char *principal_id,
                               int64_t deadline_ms,
                               struct azidt_arm_role_assignment **items,
                               size_t *count, char *err, size_t errlen);

/*
 * Read resource group name in the configured subscription. On success
 * *group (may be NULL when not wanted) receives the JSON object for the
 * caller to cJSON_Delete. Returns AZIDT_ERR_NOT_FOUND with a message
 * naming the group and the subscription when it does not exist.
 */
azidt_err azidt_arm_resource_group_get(struct azidt_azure_client *client,
                                       const char *name, int64_t deadline_ms,
                                       cJSON **group, char *err, size_t errlen);

/* Check that scope is an ARM scope that can be put in a URL: it starts
 * with '/', and has no whitespace, '?', '#', '%' or "..". */
bool azidt_arm_scope_is_valid(const char *scope);

#endif
