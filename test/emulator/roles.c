/*
 * Built-in Azure role definitions. The GUIDs are the ones Azure uses in
 * every tenant. The permission lists are the published ones, shortened to
 * the actions that decide what the emulator authorises.
 */
#include "emulator.h"

#include <stdlib.h>
#include <string.h>

struct role {
    const char *guid;
    const char *name;
    const char *description;
    const char *actions[8];
    const char *not_actions[4];
    const char *data_actions[3];
};

static const struct role roles[] = {
    {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
     "Owner",
     "Grants full access to manage all resources, including the ability to "
     "assign roles in Azure RBAC.",
     {"*"},
     {0},
     {0}},
    {"b24988ac-6180-42a0-ab88-20f7382dd24c",
     "Contributor",
     "Grants full access to manage all resources, but does not allow you to "
     "assign roles in Azure RBAC, manage assignments in Azure Blueprints, "
     "or share image galleries.",
     {"*"},
     {"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action"},
     {0}},
    {"acdd72a7-3385-48ef-bd42-f606fba81ae7",
     "Reader",
     "View all resources, but does not allow you to make any changes.",
     {"*/read"},
     {0},
     {0}},
    {"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
     "User Access Administrator",
     "Lets you manage user access to Azure resources.",
     {"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"},
     {0},
     {0}},
    {"f58310d9-a9f6-439a-9e8d-f62e7b41a168",
     "Role Based Access Control Administrator",
     "Manage access to Azure resources by assigning roles using Azure RBAC. "
     "This role does not allow you to manage access using other ways, such "
     "as Azure Policy.",
     {"Microsoft.Authorization/roleAssignments/write",
      "Microsoft.Authorization/roleAssignments/delete", "*/read",
      "Microsoft.Support/*"},
     {0},
     {0}},
    {"f1a07417-d97a-45cb-824c-7a7467783830",
     "Managed Identity Operator",
     "Read and Assign User Assigned Identity",
     {"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
      "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
      "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Resources/deployments/*", "Microsoft.Support/*"},
     {0},
     {0}},
    {"9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
     "Virtual Machine Contributor",
     "Create and manage virtual machines, manage disks, install and run "
     "software, reset password of the root user of the virtual machine "
     "using VM extensions, and manage local user accounts using VM "
     "extensions.",
     {"Microsoft.Authorization/*/read", "Microsoft.Compute/virtualMachines/*",
      "Microsoft.Compute/disks/*", "Microsoft.Network/networkInterfaces/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Resources/deployments/*", "Microsoft.Support/*"},
     {0},
     {0}},
    {"4633458b-17de-408a-b874-0445c86b69e6",
     "Key Vault Secrets User",
     "Read secret contents. Only works for key vaults that use the 'Azure "
     "role-based access control' permission model.",
     {0},
     {0},
     {"Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}},
};

#define ROLE_COUNT (sizeof(roles) / sizeof(roles[0]))

static cJSON *string_list(const char *const *items, size_t max)
{
    cJSON *list = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < max && items[i]; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(items[i]));
    return list;
}

static cJSON *role_json(const struct role *role)
{
    cJSON *def = cJSON_CreateObject();
    cJSON *props, *perms, *perm;
    char *id = emu_printf("/providers/Microsoft.Authorization/"
                          "roleDefinitions/%s",
                          role->guid);

    cJSON_AddStringToObject(def, "id", id);
    free(id);
    cJSON_AddStringToObject(def, "name", role->guid);
    cJSON_AddStringToObject(def, "type",
                            "Microsoft.Authorization/roleDefinitions");
    props = cJSON_AddObjectToObject(def, "properties");
    cJSON_AddStringToObject(props, "roleName", role->name);
    cJSON_AddStringToObject(props, "type", "BuiltInRole");
    cJSON_AddStringToObject(props, "description", role->description);
    cJSON_AddItemToObject(props, "assignableScopes",
                          cJSON_CreateStringArray((const char *[]){"/"}, 1));
    perms = cJSON_AddArrayToObject(props, "permissions");
    perm = cJSON_CreateObject();
    cJSON_AddItemToObject(perm, "actions", string_list(role->actions, 8));
    cJSON_AddItemToObject(perm, "notActions",
                          string_list(role->not_actions, 4));
    cJSON_AddItemToObject(perm, "dataActions",
                          string_list(role->data_actions, 3));
    cJSON_AddItemToObject(perm, "notDataActions", cJSON_CreateArray());
    cJSON_AddItemToArray(perms, perm);
    cJSON_AddStringToObject(props, "createdOn", "2015-02-02T21:55:09Z");
    cJSON_AddStringToObject(props, "updatedOn", "2021-11-11T20:13:47Z");
    cJSON_AddNullToObject(props, "createdBy");
    cJSON_AddNullToObject(props, "updatedBy");
    return def;
}

static cJSON *all_roles;
static pthread_once_t roles_once = PTHREAD_ONCE_INIT;

static void build_roles(void)
{
    size_t i;

    all_roles = cJSON_CreateArray();
    for (i = 0; i < ROLE_COUNT; i++)
        cJSON_AddItemToArray(all_roles, role_json(&roles[i]));
}

const cJSON *emu_role_definitions(void)
{
    pthread_once(&roles_once, build_roles);
    return all_roles;
}

const cJSON *emu_role_definition_find(const char *guid)
{
    const cJSON *def;

    cJSON_ArrayForEach(def, emu_role_definitions())
    {
        if (emu_strcaseeq(
                cJSON_GetStringValue(cJSON_GetObjectItem(def, "name")), guid))
            return def;
    }
    return NULL;
}

const cJSON *emu_role_definition_by_name(const char *name)
{
    const cJSON *def;

    cJSON_ArrayForEach(def, emu_role_definitions())
    {
        const cJSON *props = cJSON_GetObjectItem(def, "properties");

        if (emu_strcaseeq(
                cJSON_GetStringValue(cJSON_GetObjectItem(props, "roleName")),
                name))
            return def;
    }
    return NULL;
}

/* Return true when one of the role's actions matches action and none of
 * its notActions does. Matching is case-insensitive with '*' wildcards,
 * as in Azure RBAC. */
bool emu_role_allows(const cJSON *def, const char *action)
{
    const cJSON *perm;

    cJSON_ArrayForEach(
        perm, cJSON_GetObjectItem(cJSON_GetObjectItem(def, "properties"),
                                  "permissions"))
    {
        const cJSON *item;
        bool allowed = false;

        cJSON_ArrayForEach(item, cJSON_GetObjectItem(perm, "actions"))
        {
            if (emu_glob(item->valuestring, action))
                allowed = true;
        }
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(perm, "notActions"))
        {
            if (emu_glob(item->valuestring, action))
                allowed = false;
        }
        if (allowed)
            return true;
    }
    return false;
}
