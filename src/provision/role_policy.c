#include "azidt/role_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azidt/arm.h"
#include "azidt/uuid.h"

/* A role as a list or a spec names it: its GUID, its name, or both when
 * the built-in table contains it. */
struct role_ref {
    char guid[40];
    char name[160];
};

struct role_list {
    struct role_ref *items;
    size_t count;
};

struct prefix_list {
    char **items;
    size_t count;
};

struct azidt_role_policy {
    struct role_list denied;
    struct role_list allowed;
    struct prefix_list prefixes;
};

/* Built-in roles that can grant access or own resources, the default of
 * --denied-roles, with their GUIDs (the same in every tenant; Azure
 * built-in roles reference). The ARM client's table contains the roles it
 * resolves without a call. */
static const struct {
    const char *name;
    const char *guid;
} privileged_roles[] = {
    {"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
    {"User Access Administrator", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"},
    {"Role Based Access Control Administrator",
     "f58310d9-a9f6-439a-9e8d-f62e7b41a168"},
};

#define PRIVILEGED_COUNT                                                       \
    (sizeof(privileged_roles) / sizeof(privileged_roles[0]))

static const char *known_guid(const char *name)
{
    const char *guid = azidt_arm_builtin_role_guid(name);

    for (size_t i = 0; !guid && i < PRIVILEGED_COUNT; i++)
        if (strcasecmp(name, privileged_roles[i].name) == 0)
            guid = privileged_roles[i].guid;
    return guid;
}

static const char *known_name(const char *guid)
{
    const char *name = azidt_arm_builtin_role_name(guid);

    for (size_t i = 0; !name && i < PRIVILEGED_COUNT; i++)
        if (strcasecmp(guid, privileged_roles[i].guid) == 0)
            name = privileged_roles[i].name;
    return name;
}

static bool is_guid(const char *text)
{
    unsigned char bytes[16];

    return strlen(text) == 36 && azidt_uuid_parse(text, bytes) == AZIDT_OK;
}

/* Fill ref from a built-in name, a GUID or a role definition id. */
static void describe_role(const char *text, struct role_ref *ref)
{
    const char *guid = text;
    const char *known;

    memset(ref, 0, sizeof(*ref));
    if (strcasestr(text, "/roleDefinitions/"))
        guid = azidt_arm_role_guid(text);
    if (is_guid(guid)) {
        for (size_t i = 0; guid[i] && i < sizeof(ref->guid) - 1; i++)
            ref->guid[i] = (char)tolower((unsigned char)guid[i]);
        known = known_name(ref->guid);
        if (known)
            snprintf(ref->name, sizeof(ref->name), "%s", known);
        return;
    }
    snprintf(ref->name, sizeof(ref->name), "%s", text);
    known = known_guid(text);
    if (known)
        snprintf(ref->guid, sizeof(ref->guid), "%s", known);
}

static bool refs_match(const struct role_ref *a, const struct role_ref *b)
{
    if (a->guid[0] && b->guid[0])
        return strcasecmp(a->guid, b->guid) == 0;
    return a->name[0] && b->name[0] && strcasecmp(a->name, b->name) == 0;
}

static bool list_has(const struct role_list *list, const struct role_ref *ref)
{
    for (size_t i = 0; i < list->count; i++)
        if (refs_match(&list->items[i], ref))
            return true;
    return false;
}

/* Split text at commas into trimmed, non-empty copies. */
static azidt_err split(const char *text, char ***out, size_t *count)
{
    const char *p = text ? text : "";
    char **items = NULL;
    size_t n = 0;

    *out = NULL;
    *count = 0;
    while (*p) {
        const char *end = p + strcspn(p, ",");
        const char *start = p;
        const char *last = end;
        char **grown;

        while (start < last && isspace((unsigned char)*start))
            start++;
        while (last > start && isspace((unsigned char)last[-1]))
            last--;
        if (last > start) {
            grown = realloc(items, (n + 1) * sizeof(*items));
            if (!grown)
                goto nomem;
            items = grown;
            items[n] = strndup(start, (size_t)(last - start));
            if (!items[n])
                goto nomem;
            n++;
        }
        p = *end ? end + 1 : end;
    }
    *out = items;
    *count = n;
    return AZIDT_OK;
nomem:
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return AZIDT_ERR_NOMEM;
}

static void free_strings(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

static azidt_err parse_roles(const char *text, struct role_list *list)
{
    char **items;
    size_t count;
    azidt_err rc = split(text, &items, &count);

    if (rc)
        return rc;
    list->items = count ? calloc(count, sizeof(*list->items)) : NULL;
    if (count && !list->items) {
        free_strings(items, count);
        return AZIDT_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        describe_role(items[i], &list->items[i]);
    list->count = count;
    free_strings(items, count);
    return AZIDT_OK;
}

azidt_err azidt_role_policy_new(const char *denied_roles,
                                const char *allowed_roles,
                                const char *scope_prefixes,
                                struct azidt_role_policy **out, char *err,
                                size_t errlen)
{
    struct azidt_role_policy *policy = calloc(1, sizeof(*policy));
    azidt_err rc;

    *out = NULL;
    if (!policy)
        return AZIDT_ERR_NOMEM;
    rc = parse_roles(denied_roles, &policy->denied);
    if (!rc)
        rc = parse_roles(allowed_roles, &policy->allowed);
    if (!rc)
        rc = split(scope_prefixes, &policy->prefixes.items,
                   &policy->prefixes.count);
    for (size_t i = 0; !rc && i < policy->prefixes.count; i++) {
        const char *prefix = policy->prefixes.items[i];

        if (prefix[0] != '/' || strstr(prefix, "..")) {
            snprintf(err, errlen,
                     "scope prefix \"%.200s\" must start with '/' and must "
                     "not contain \"..\"",
                     prefix);
            rc = AZIDT_ERR_INVALID;
        }
    }
    if (rc == AZIDT_ERR_NOMEM)
        snprintf(err, errlen, "out of memory while reading the role policy");
    if (rc) {
        azidt_role_policy_free(policy);
        return rc;
    }
    *out = policy;
    return AZIDT_OK;
}

void azidt_role_policy_free(struct azidt_role_policy *policy)
{
    if (!policy)
        return;
    free(policy->denied.items);
    free(policy->allowed.items);
    free_strings(policy->prefixes.items, policy->prefixes.count);
    free(policy);
}

enum azidt_role_verdict
azidt_role_policy_check_role(const struct azidt_role_policy *policy,
                             const char *role, const char *resolved_id,
                             char *why, size_t whylen)
{
    struct role_ref ref;

    if (!policy)
        return AZIDT_ROLE_ALLOWED;
    describe_role(role, &ref);
    if (resolved_id) {
        struct role_ref resolved;

        describe_role(resolved_id, &resolved);
        if (resolved.guid[0])
            memcpy(ref.guid, resolved.guid, sizeof(ref.guid));
        if (!ref.name[0])
            memcpy(ref.name, resolved.name, sizeof(ref.name));
    }
    if (list_has(&policy->denied, &ref)) {
        snprintf(why, whylen,
                 "role \"%.160s\" is denied by the role policy "
                 "(--denied-roles)",
                 role);
        return AZIDT_ROLE_DENIED;
    }
    if (policy->allowed.count == 0 || list_has(&policy->allowed, &ref))
        return AZIDT_ROLE_ALLOWED;
    /* A custom role name at admission: the list may name it by GUID,
     * which only the provisioner resolves. */
    if (!resolved_id && !(ref.guid[0] && ref.name[0]))
        return AZIDT_ROLE_UNDECIDED;
    snprintf(why, whylen,
             "role \"%.160s\" is not allowed by the role policy "
             "(--allowed-roles)",
             role);
    return AZIDT_ROLE_DENIED;
}

bool azidt_role_policy_check_scope(const struct azidt_role_policy *policy,
                                   const char *scope, char *why, size_t whylen)
{
    if (!policy)
        return true;
    if (strstr(scope, "..")) {
        snprintf(why, whylen,
                 "scope \"%.300s\" must not contain \"..\" (role policy)",
                 scope);
        return false;
    }
    if (policy->prefixes.count == 0)
        return true;
    for (size_t i = 0; i < policy->prefixes.count; i++) {
        const char *prefix = policy->prefixes.items[i];

        if (strncasecmp(scope, prefix, strlen(prefix)) == 0)
            return true;
    }
    snprintf(why, whylen,
             "scope \"%.300s\" is outside the scopes the role policy "
             "allows (--allowed-scope-prefixes: %.300s%s)",
             scope, policy->prefixes.items[0],
             policy->prefixes.count > 1 ? ", ..." : "");
    return false;
}
