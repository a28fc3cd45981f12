#include "azidt/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azidt/duration.h"

/* Characters of a value shown in a message before it is cut. */
#define QUOTE_CHARS 64

#define ROLE_NAME_MAX 128
#define ARM_SCOPE_MAX 1024
#define MANAGEMENT_GROUP_MAX 90
#define FIELD_PATH_MAX 256

static const char *const spec_fields[] = {"appRegistration",
                                          "azureIdentityName",
                                          "nodeResourceGroup",
                                          "podSelector",
                                          "servicePrincipal",
                                          "roleAssignments",
                                          NULL};
static const char *const app_registration_fields[] = {"displayName", NULL};
static const char *const service_principal_fields[] = {
    "clientSecretDuration", "renewBefore", "tags", NULL};
static const char *const role_assignment_fields[] = {"role", "scope", NULL};

void azidt_validate_limits_init(struct azidt_validate_limits *limits)
{
    limits->min_secret_duration_ns = AZIDT_DEFAULT_MIN_SECRET_DURATION_NS;
    limits->max_secret_duration_ns = AZIDT_DEFAULT_MAX_SECRET_DURATION_NS;
    limits->max_role_assignments = AZIDT_DEFAULT_MAX_ROLE_ASSIGNMENTS;
}

/* --- results ----------------------------------------------------------- */

static void add_error(struct azidt_validate_result *result, const char *fmt,
                      ...) __attribute__((format(printf, 2, 3)));

static void add_error(struct azidt_validate_result *result, const char *fmt,
                      ...)
{
    va_list ap;
    char *text = NULL;
    char **grown;
    int n;

    if (result->count >= AZIDT_VALIDATE_MAX_MESSAGES) {
        result->omitted++;
        return;
    }
    va_start(ap, fmt);
    n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        result->nomem = true;
        return;
    }
    grown = realloc(result->messages,
                    (result->count + 1) * sizeof(*result->messages));
    if (!grown) {
        free(text);
        result->nomem = true;
        return;
    }
    result->messages = grown;
    result->messages[result->count++] = text;
}

char *azidt_validate_result_join(const struct azidt_validate_result *result)
{
    char more[48] = "";
    size_t len = 1;
    char *text, *p;

    if (result->omitted > 0)
        snprintf(more, sizeof(more), "; and %zu more", result->omitted);
    len += strlen(more);
    for (size_t i = 0; i < result->count; i++)
        len += strlen(result->messages[i]) + 2;
    text = malloc(len);
    if (!text)
        return NULL;
    p = text;
    *p = '\0';
    for (size_t i = 0; i < result->count; i++) {
        size_t n = strlen(result->messages[i]);

        if (i > 0) {
            memcpy(p, "; ", 2);
            p += 2;
        }
        memcpy(p, result->messages[i], n);
        p += n;
    }
    memcpy(p, more, strlen(more) + 1);
    return text;
}

void azidt_validate_result_free(struct azidt_validate_result *result)
{
    if (!result)
        return;
    for (size_t i = 0; i < result->count; i++)
        free(result->messages[i]);
    free(result->messages);
    memset(result, 0, sizeof(*result));
}

/* --- characters -------------------------------------------------------- */

/* Decode one UTF-8 sequence at s. Returns its length in bytes, or 0 when
 * the bytes are not valid UTF-8 (overlong forms and surrogates included). */
static size_t utf8_sequence(const unsigned char *s, uint32_t *code_point)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80) {
        *code_point = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        cp = s[0] & 0x1f;
        len = 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        cp = s[0] & 0x0f;
        len = 3;
    } else if ((s[0] & 0xf8) == 0xf0) {
        cp = s[0] & 0x07;
        len = 4;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *code_point = cp;
    return len;
}

/* Count the characters of s. Returns -1 for invalid UTF-8, -2 when s
 * contains a control character. */
static long count_characters(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;

    while (*p) {
        uint32_t cp;
        size_t len = utf8_sequence(p, &cp);

        if (len == 0)
            return -1;
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return -2;
        p += len;
        count++;
    }
    return count;
}

char *azidt_validate_quote(const char *value, char *buf, size_t buflen)
{
    const unsigned char *p = (const unsigned char *)(value ? value : "");
    size_t w = 0;
    int chars = 0;

    if (!buf || buflen < AZIDT_QUOTE_MAX) {
        if (buf && buflen > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[w++] = '"';
    while (*p && chars < QUOTE_CHARS) {
        uint32_t cp;
        size_t len = utf8_sequence(p, &cp);

        if (len == 0 || cp < 0x20 || cp == 0x7f) {
            static const char hex[] = "0123456789abcdef";

            buf[w++] = '\\';
            if (*p == '\n') {
                buf[w++] = 'n';
            } else if (*p == '\t') {
                buf[w++] = 't';
            } else if (*p == '\r') {
                buf[w++] = 'r';
            } else {
                buf[w++] = 'x';
                buf[w++] = hex[*p >> 4];
                buf[w++] = hex[*p & 0x0f];
            }
            p++;
        } else {
            if (*p == '"' || *p == '\\')
                buf[w++] = '\\';
            memcpy(buf + w, p, len);
            w += len;
            p += len;
        }
        chars++;
    }
    buf[w++] = '"';
    if (*p) {
        memcpy(buf + w, "...", 3);
        w += 3;
    }
    buf[w] = '\0';
    return buf;
}

static bool is_alnum_ascii(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* A GUID in its 8-4-4-4-12 hex form. */
static bool is_guid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

/* --- single values ------------------------------------------------------ */

bool azidt_validate_dns1123_subdomain(const char *value)
{
    size_t len = value ? strlen(value) : 0;

    if (len == 0 || len > AZIDT_DNS1123_SUBDOMAIN_MAX)
        return false;
    /* Each dot-separated label starts and ends with [a-z0-9], with
     * [-a-z0-9] between. */
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        bool label_edge = i == 0 || i == len - 1 || value[i - 1] == '.' ||
                          value[i + 1] == '.';

        if (c == '.') {
            if (i == 0 || i == len - 1 || value[i + 1] == '.')
                return false;
        } else if (label_edge ? !is_lower_alnum(c)
                              : !(is_lower_alnum(c) || c == '-')) {
            return false;
        }
    }
    return true;
}

bool azidt_validate_label_value(const char *value)
{
    size_t len = value ? strlen(value) : 0;

    if (!value || len > AZIDT_LABEL_VALUE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        bool edge = i == 0 || i == len - 1;

        if (edge ? !is_alnum_ascii(c)
                 : !(is_alnum_ascii(c) || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool is_resource_group_char(char c)
{
    return is_alnum_ascii(c) || c == '_' || c == '-' || c == '.' || c == '(' ||
           c == ')';
}

static bool resource_group_span(const char *s, size_t len)
{
    if (len == 0 || len > AZIDT_RESOURCE_GROUP_MAX || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_resource_group_char(s[i]))
            return false;
    }
    return true;
}

bool azidt_validate_resource_group(const char *value)
{
    return value && resource_group_span(value, strlen(value));
}

/* Split the next "/segment" off *s; returns false at the end of the
 * string or on an empty segment. */
static bool next_segment(const char **s, const char **seg, size_t *len)
{
    const char *end;

    if (**s != '/')
        return false;
    *seg = *s + 1;
    end = strchr(*seg, '/');
    *len = end ? (size_t)(end - *seg) : strlen(*seg);
    *s = *seg + *len;
    return *len > 0;
}

static bool segment_is(const char *seg, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(seg, word, len) == 0;
}

/* A resource provider namespace such as Microsoft.KeyVault. */
static bool is_provider_namespace(const char *seg, size_t len)
{
    bool dot = false;

    if (len == 0 || !is_alnum_ascii(seg[0]) || !is_alnum_ascii(seg[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] == '.')
            dot = true;
        else if (!is_alnum_ascii(seg[i]))
            return false;
    }
    return dot;
}

static bool is_resource_name(const char *seg, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)seg[i];

        if (c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\' ||
            c == '%')
            return false;
    }
    return len > 0;
}

/* "/providers/<namespace>/<type>/<name>[/<type>/<name>...]" */
static bool provider_resource(const char *s)
{
    const char *seg;
    size_t len;
    int pairs = 0;

    if (!next_segment(&s, &seg, &len) || !segment_is(seg, len, "providers") ||
        !next_segment(&s, &seg, &len) || !is_provider_namespace(seg, len))
        return false;
    while (*s) {
        if (!next_segment(&s, &seg, &len))
            return false;
        for (size_t i = 0; i < len; i++) {
            if (!is_alnum_ascii(seg[i]))
                return false;
        }
        if (!next_segment(&s, &seg, &len) || !is_resource_name(seg, len))
            return false;
        pairs++;
    }
    return pairs > 0;
}

static bool management_group_scope(const char *s)
{
    const char *seg;
    size_t len;

    if (!next_segment(&s, &seg, &len) || !segment_is(seg, len, "providers") ||
        !next_segment(&s, &seg, &len) ||
        !segment_is(seg, len, "Microsoft.Management") ||
        !next_segment(&s, &seg, &len) ||
        !segment_is(seg, len, "managementGroups") ||
        !next_segment(&s, &seg, &len) || len > MANAGEMENT_GROUP_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!(is_alnum_ascii(seg[i]) || strchr("-_().", seg[i])))
            return false;
    }
    return *s == '\0';
}

bool azidt_validate_arm_scope(const char *value)
{
    const char *s = value, *seg;
    size_t len;

    if (!value || strlen(value) > ARM_SCOPE_MAX)
        return false;
    if (strncasecmp(value, "/providers/", 11) == 0)
        return management_group_scope(value);
    if (!next_segment(&s, &seg, &len) ||
        !segment_is(seg, len, "subscriptions") ||
        !next_segment(&s, &seg, &len) || !is_guid(seg, len))
        return false;
    if (*s == '\0')
        return true;
    if (strncasecmp(s, "/resourceGroups/", 16) == 0) {
        const char *group;

        next_segment(&s, &seg, &len);
        if (!next_segment(&s, &group, &len) || !resource_group_span(group, len))
            return false;
        if (*s == '\0')
            return true;
    }
    return provider_resource(s);
}

/* A role definition id: a GUID, or the resource id of a definition. */
static bool is_role_definition_id(const char *value)
{
    static const char suffix[] = "/providers/Microsoft.Authorization/"
                                 "roleDefinitions/";
    const char *s = value, *seg;
    size_t len;

    if (is_guid(value, strlen(value)))
        return true;
    if (strncasecmp(s, "/subscriptions/", 15) == 0) {
        next_segment(&s, &seg, &len);
        if (!next_segment(&s, &seg, &len) || !is_guid(seg, len))
            return false;
    }
    if (strncasecmp(s, suffix, sizeof(suffix) - 1) != 0)
        return false;
    s += sizeof(suffix) - 1;
    return is_guid(s, strlen(s));
}

/* A built-in role name such as "Key Vault Secrets User". Whether the role
 * exists is checked against ARM when the assignment is made. */
static bool is_role_name(const char *value)
{
    size_t len = strlen(value);

    if (len == 0 || len > ROLE_NAME_MAX || value[0] == ' ' ||
        value[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!(is_alnum_ascii(value[i]) || strchr(" -_.()", value[i])))
            return false;
    }
    return true;
}

/* --- object walk -------------------------------------------------------- */

static const char *type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "string";
    if (cJSON_IsNumber(item))
        return "number";
    if (cJSON_IsBool(item))
        return "boolean";
    if (cJSON_IsArray(item))
        return "list";
    if (cJSON_IsObject(item))
        return "object";
    return "null";
}

/* Levenshtein distance, capped: returns at most 9. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];

    if (la >= 63 || lb >= 63)
        return 9;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;

            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb] > 9 ? 9 : row[lb];
}

static bool is_known(const char *name, const char *const *known)
{
    for (size_t i = 0; known[i]; i++) {
        if (strcmp(name, known[i]) == 0)
            return true;
    }
    return false;
}

/* Deny every member of object that is not in known, suggesting the
 * nearest known name when one is close (a typo or a case slip). */
static void check_unknown_fields(const cJSON *object, const char *path,
                                 const char *const *known,
                                 struct azidt_validate_result *result)
{
    const cJSON *item;
    char quoted[AZIDT_QUOTE_MAX], full[FIELD_PATH_MAX];

    cJSON_ArrayForEach(item, object)
    {
        const char *best = NULL;
        size_t best_distance = 3;
        char list[256] = "";

        if (is_known(item->string, known))
            continue;
        if (result->count >= AZIDT_VALIDATE_MAX_MESSAGES) {
            result->omitted++;
            continue;
        }
        for (size_t i = 0; known[i]; i++) {
            size_t d = strcasecmp(item->string, known[i]) == 0
                           ? 0
                           : edit_distance(item->string, known[i]);

            if (d < best_distance) {
                best = known[i];
                best_distance = d;
            }
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i ? ", " : "", known[i]);
        }
        snprintf(full, sizeof(full), "%s.%s", path, item->string);
        azidt_validate_quote(full, quoted, sizeof(quoted));
        if (best)
            add_error(result,
                      "unknown field %s: did you mean \"%s\"? The fields of "
                      "%s are %s",
                      quoted, best, path, list);
        else
            add_error(result, "unknown field %s: the fields of %s are %s",
                      quoted, path, list);
    }
}

/*
 * Fetch parent.name. Returns the member when it has the expected cJSON
 * type. A missing or null member gives NULL (with a Required error when
 * required); a member of another type gives NULL and an error.
 */
static const cJSON *get_member(const cJSON *parent, const char *path,
                               const char *name, int type, bool required,
                               const char *required_detail,
                               struct azidt_validate_result *result)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(parent, name);
    const char *expected = type == cJSON_String  ? "a string"
                           : type == cJSON_Array ? "a list"
                                                 : "an object";

    if (!item || cJSON_IsNull(item)) {
        if (required)
            add_error(result, "%s.%s: Required value: %s", path, name,
                      required_detail);
        return NULL;
    }
    if ((item->type & 0xff) != type) {
        add_error(result, "%s.%s: Invalid value: %s: must be %s", path, name,
                  type_name(item), expected);
        return NULL;
    }
    return item;
}

static void check_display_name(const cJSON *app,
                               struct azidt_validate_result *result)
{
    const char *path = "spec.appRegistration.displayName";
    const cJSON *item = get_member(
        app, "spec.appRegistration", "displayName", cJSON_String, true,
        "the display name of the Azure AD application "
        "registration, such as \"azure-kv-access-test\"",
        result);
    char quoted[AZIDT_QUOTE_MAX];
    long chars;

    if (!item)
        return;
    azidt_validate_quote(item->valuestring, quoted, sizeof(quoted));
    chars = count_characters(item->valuestring);
    if (item->valuestring[strspn(item->valuestring, " ")] == '\0')
        add_error(result, "%s: Required value: must not be empty or blank",
                  path);
    else if (chars == -1)
        add_error(result, "%s: Invalid value: %s: must be valid UTF-8", path,
                  quoted);
    else if (chars == -2)
        add_error(result,
                  "%s: Invalid value: %s: must not contain control "
                  "characters",
                  path, quoted);
    else if (chars > AZIDT_DISPLAY_NAME_MAX)
        add_error(result,
                  "%s: Invalid value: %s: must be at most %d characters "
                  "(it has %ld)",
                  path, quoted, AZIDT_DISPLAY_NAME_MAX, chars);
}

static void check_app_registration(const cJSON *spec,
                                   struct azidt_validate_result *result)
{
    const cJSON *app =
        get_member(spec, "spec", "appRegistration", cJSON_Object, true,
                   "an object with displayName, the name of the Azure AD "
                   "application registration",
                   result);

    if (!app)
        return;
    check_unknown_fields(app, "spec.appRegistration", app_registration_fields,
                         result);
    check_display_name(app, result);
}

static void check_identity_name(const cJSON *spec,
                                struct azidt_validate_result *result)
{
    const cJSON *item = get_member(
        spec, "spec", "azureIdentityName", cJSON_String, true,
        "the name of the Secret, AzureIdentity and AzureIdentityBinding to "
        "create, such as \"azure-kv-access-test\"",
        result);
    char quoted[AZIDT_QUOTE_MAX];

    if (!item || azidt_validate_dns1123_subdomain(item->valuestring))
        return;
    add_error(result,
              "spec.azureIdentityName: Invalid value: %s: must be a DNS-1123 "
              "subdomain (at most %d characters of lowercase letters, "
              "digits, '-' and '.', starting and ending with a letter or "
              "digit), such as \"azure-kv-access-test\"",
              azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
              AZIDT_DNS1123_SUBDOMAIN_MAX);
}

static void check_node_resource_group(const cJSON *spec,
                                      struct azidt_validate_result *result)
{
    const cJSON *item =
        get_member(spec, "spec", "nodeResourceGroup", cJSON_String, true,
                   "the cluster's node resource group, as printed by "
                   "`az aks show --query nodeResourceGroup`",
                   result);
    char quoted[AZIDT_QUOTE_MAX];

    if (!item || azidt_validate_resource_group(item->valuestring))
        return;
    add_error(result,
              "spec.nodeResourceGroup: Invalid value: %s: must be an Azure "
              "resource group name (1-%d characters of letters, digits, "
              "'_', '-', '.', '(' and ')', not ending in '.'); the cluster's "
              "node resource group is printed by "
              "`az aks show --query nodeResourceGroup`",
              azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
              AZIDT_RESOURCE_GROUP_MAX);
}

static void check_pod_selector(const cJSON *spec,
                               struct azidt_validate_result *result)
{
    const cJSON *item =
        get_member(spec, "spec", "podSelector", cJSON_String, true,
                   "the value of the aadpodidbinding label on the pods that "
                   "use this identity, such as \"azure-kv-pods\"",
                   result);
    char quoted[AZIDT_QUOTE_MAX];

    if (!item)
        return;
    if (item->valuestring[0] == '\0') {
        add_error(result,
                  "spec.podSelector: Required value: must not be empty, "
                  "because pods select the identity by this value of their "
                  "aadpodidbinding label");
        return;
    }
    if (azidt_validate_label_value(item->valuestring))
        return;
    add_error(result,
              "spec.podSelector: Invalid value: %s: must be a Kubernetes "
              "label value (at most %d characters of letters, digits, '-', "
              "'_' and '.', starting and ending with a letter or digit), "
              "such as \"azure-kv-pods\"",
              azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
              AZIDT_LABEL_VALUE_MAX);
}

/* Parse a duration field; returns 0 when it is missing or invalid. */
static int64_t check_duration_syntax(const cJSON *item, const char *path,
                                     struct azidt_validate_result *result)
{
    char reason[96], quoted[AZIDT_QUOTE_MAX];
    int64_t ns = 0;

    if (!item)
        return 0;
    if (!azidt_duration_parse_positive(item->valuestring, &ns, reason,
                                       sizeof(reason)))
        return ns;
    add_error(result, "%s: Invalid value: %s: %s; write %s", path,
              azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
              reason, AZIDT_DURATION_SYNTAX);
    return 0;
}

static int64_t check_secret_duration(const cJSON *sp,
                                     const struct azidt_validate_limits *lim,
                                     struct azidt_validate_result *result)
{
    const char *path = "spec.servicePrincipal.clientSecretDuration";
    const cJSON *item = get_member(sp, "spec.servicePrincipal",
                                   "clientSecretDuration", cJSON_String, true,
                                   "the lifetime of each client secret, such "
                                   "as \"720h\"",
                                   result);
    int64_t ns = check_duration_syntax(item, path, result);
    char quoted[AZIDT_QUOTE_MAX], low[AZIDT_DURATION_TEXT_MAX],
        high[AZIDT_DURATION_TEXT_MAX];

    if (ns == 0)
        return 0;
    if (ns >= lim->min_secret_duration_ns && ns <= lim->max_secret_duration_ns)
        return ns;
    add_error(
        result, "%s: Invalid value: %s: must be between %s and %s", path,
        azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
        azidt_duration_format(lim->min_secret_duration_ns, low, sizeof(low)),
        azidt_duration_format(lim->max_secret_duration_ns, high, sizeof(high)));
    return 0;
}

static void check_renew_before(const cJSON *sp, int64_t duration_ns,
                               struct azidt_validate_result *result)
{
    const char *path = "spec.servicePrincipal.renewBefore";
    const cJSON *item = get_member(sp, "spec.servicePrincipal", "renewBefore",
                                   cJSON_String, false, NULL, result);
    int64_t ns = check_duration_syntax(item, path, result);
    char quoted[AZIDT_QUOTE_MAX], limit[AZIDT_DURATION_TEXT_MAX];

    /* Without a valid duration there is nothing to compare against; that
     * field has its own error. */
    if (ns == 0 || duration_ns == 0 || ns < duration_ns)
        return;
    add_error(result,
              "%s: Invalid value: %s: must be shorter than "
              "spec.servicePrincipal.clientSecretDuration (%s), so that "
              "rotation starts before the secret expires; leave it out to "
              "rotate after two thirds of the lifetime",
              path,
              azidt_validate_quote(item->valuestring, quoted, sizeof(quoted)),
              azidt_duration_format(duration_ns, limit, sizeof(limit)));
}

static void check_tag(const cJSON *tags, const cJSON *tag, int index,
                      struct azidt_validate_result *result)
{
    char quoted[AZIDT_QUOTE_MAX];
    const char *path = "spec.servicePrincipal.tags";
    long chars;
    int j = 0;

    if (!cJSON_IsString(tag)) {
        add_error(result, "%s[%d]: Invalid value: %s: must be a string", path,
                  index, type_name(tag));
        return;
    }
    azidt_validate_quote(tag->valuestring, quoted, sizeof(quoted));
    chars = count_characters(tag->valuestring);
    if (tag->valuestring[0] == '\0')
        add_error(result, "%s[%d]: Required value: a tag must not be empty",
                  path, index);
    else if (chars < 0)
        add_error(result,
                  "%s[%d]: Invalid value: %s: must be valid UTF-8 without "
                  "control characters",
                  path, index, quoted);
    else if (chars > AZIDT_TAG_MAX)
        add_error(result,
                  "%s[%d]: Invalid value: %s: must be at most %d characters "
                  "(it has %ld)",
                  path, index, quoted, AZIDT_TAG_MAX, chars);
    else if (strncasecmp(tag->valuestring, AZIDT_RESERVED_TAG_PREFIX,
                         strlen(AZIDT_RESERVED_TAG_PREFIX)) == 0)
        add_error(result,
                  "%s[%d]: Invalid value: %s: the prefix "
                  "\"" AZIDT_RESERVED_TAG_PREFIX "\" is reserved for the "
                  "tags the webhook sets; choose another tag",
                  path, index, quoted);

    for (const cJSON *earlier = tags->child; earlier != tag;
         earlier = earlier->next, j++) {
        if (cJSON_IsString(earlier) &&
            strcmp(earlier->valuestring, tag->valuestring) == 0) {
            add_error(result,
                      "%s[%d]: Duplicate value: %s: the same tag is already "
                      "%s[%d]; list each tag once",
                      path, index, quoted, path, j);
            break;
        }
    }
}

static void check_service_principal(const cJSON *spec,
                                    const struct azidt_validate_limits *lim,
                                    struct azidt_validate_result *result)
{
    const cJSON *sp =
        get_member(spec, "spec", "servicePrincipal", cJSON_Object, true,
                   "an object with clientSecretDuration, such as "
                   "{\"clientSecretDuration\": \"720h\"}",
                   result);
    const cJSON *tags, *tag;
    int64_t duration_ns;
    int index = 0;

    if (!sp)
        return;
    check_unknown_fields(sp, "spec.servicePrincipal", service_principal_fields,
                         result);
    duration_ns = check_secret_duration(sp, lim, result);
    check_renew_before(sp, duration_ns, result);

    tags = get_member(sp, "spec.servicePrincipal", "tags", cJSON_Array, false,
                      NULL, result);
    if (cJSON_GetArraySize(tags) > AZIDT_TAG_COUNT_MAX) {
        add_error(result,
                  "spec.servicePrincipal.tags: Too many: %d: must have at "
                  "most %d entries",
                  cJSON_GetArraySize(tags), AZIDT_TAG_COUNT_MAX);
        return;
    }
    cJSON_ArrayForEach(tag, tags)
    {
        check_tag(tags, tag, index, result);
        index++;
    }
}

static void check_role_assignment(const cJSON *list, const cJSON *entry,
                                  int index,
                                  struct azidt_validate_result *result)
{
    char path[FIELD_PATH_MAX], quoted[AZIDT_QUOTE_MAX];
    const cJSON *role, *scope;
    int j = 0;

    snprintf(path, sizeof(path), "spec.roleAssignments[%d]", index);
    if (!cJSON_IsObject(entry)) {
        add_error(result,
                  "%s: Invalid value: %s: must be an object with role and "
                  "scope",
                  path, type_name(entry));
        return;
    }
    check_unknown_fields(entry, path, role_assignment_fields, result);

    role = get_member(entry, path, "role", cJSON_String, true,
                      "a built-in role name such as \"Key Vault Secrets "
                      "User\", or a role definition id",
                      result);
    if (role && !is_role_definition_id(role->valuestring) &&
        (role->valuestring[0] == '/' || !is_role_name(role->valuestring)))
        add_error(
            result,
            "%s.role: Invalid value: %s: must be a built-in role name "
            "(at most %d characters of letters, digits, spaces, '-', "
            "'_', '.', '(' and ')'), a role definition GUID, or "
            "/subscriptions/<id>/providers/Microsoft.Authorization/"
            "roleDefinitions/<guid>",
            path,
            azidt_validate_quote(role->valuestring, quoted, sizeof(quoted)),
            ROLE_NAME_MAX);

    scope = get_member(entry, path, "scope", cJSON_String, true,
                       "an ARM scope such as "
                       "/subscriptions/<id>/resourceGroups/<name>",
                       result);
    if (scope && !azidt_validate_arm_scope(scope->valuestring))
        add_error(
            result,
            "%s.scope: Invalid value: %s: must be an ARM scope: "
            "/subscriptions/<subscription guid>, optionally followed "
            "by /resourceGroups/<name> and "
            "/providers/<namespace>/<type>/<name>, or "
            "/providers/Microsoft.Management/managementGroups/<name>",
            path,
            azidt_validate_quote(scope->valuestring, quoted, sizeof(quoted)));

    for (const cJSON *earlier = list->child; role && scope && earlier != entry;
         earlier = earlier->next, j++) {
        const cJSON *earlier_role =
            cJSON_GetObjectItemCaseSensitive(earlier, "role");
        const cJSON *earlier_scope =
            cJSON_GetObjectItemCaseSensitive(earlier, "scope");

        if (cJSON_IsString(earlier_role) && cJSON_IsString(earlier_scope) &&
            strcasecmp(earlier_role->valuestring, role->valuestring) == 0 &&
            strcasecmp(earlier_scope->valuestring, scope->valuestring) == 0) {
            add_error(result,
                      "%s: Duplicate value: the same role and scope are "
                      "already spec.roleAssignments[%d]; list each "
                      "assignment once",
                      path, j);
            break;
        }
    }
}

static void check_role_assignments(const cJSON *spec,
                                   const struct azidt_validate_limits *lim,
                                   struct azidt_validate_result *result)
{
    const cJSON *list = get_member(spec, "spec", "roleAssignments", cJSON_Array,
                                   false, NULL, result);
    const cJSON *entry;
    int index = 0;

    if (!list)
        return;
    if ((size_t)cJSON_GetArraySize(list) > lim->max_role_assignments) {
        add_error(result,
                  "spec.roleAssignments: Too many: %d: must have at most %zu "
                  "entries, because each one is created while the request "
                  "waits; split the access over several "
                  "AzureIdentityTerminators or assign roles to a group",
                  cJSON_GetArraySize(list), lim->max_role_assignments);
        return;
    }
    cJSON_ArrayForEach(entry, list)
    {
        check_role_assignment(list, entry, index, result);
        index++;
    }
}

void azidt_validate_spec(const cJSON *object,
                         const struct azidt_validate_limits *limits,
                         struct azidt_validate_result *result)
{
    struct azidt_validate_limits defaults;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");

    if (!limits) {
        azidt_validate_limits_init(&defaults);
        limits = &defaults;
    }
    if (!spec || cJSON_IsNull(spec)) {
        add_error(result, "spec: Required value: an AzureIdentityTerminator "
                          "needs a spec");
        return;
    }
    if (!cJSON_IsObject(spec)) {
        add_error(result, "spec: Invalid value: %s: must be an object",
                  type_name(spec));
        return;
    }

    check_unknown_fields(spec, "spec", spec_fields, result);
    check_app_registration(spec, result);
    check_identity_name(spec, result);
    check_node_resource_group(spec, result);
    check_pod_selector(spec, result);
    check_service_principal(spec, limits, result);
    check_role_assignments(spec, limits, result);
}

/* --- updates ------------------------------------------------------------ */

static const cJSON *spec_field(const cJSON *object, const char *parent,
                               const char *name)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(object, "spec");

    if (parent)
        node = cJSON_GetObjectItemCaseSensitive(node, parent);
    return cJSON_GetObjectItemCaseSensitive(node, name);
}

static bool same_value(const cJSON *a, const cJSON *b)
{
    if (!a || cJSON_IsNull(a))
        return !b || cJSON_IsNull(b);
    return b && cJSON_Compare(a, b, true);
}

static void check_immutable(const cJSON *object, const cJSON *old_object,
                            const char *parent, const char *name,
                            const char *why,
                            struct azidt_validate_result *result)
{
    const cJSON *now = spec_field(object, parent, name);
    const cJSON *before = spec_field(old_object, parent, name);
    char quoted[AZIDT_QUOTE_MAX], old_quoted[AZIDT_QUOTE_MAX];

    if (same_value(now, before))
        return;
    azidt_validate_quote(cJSON_IsString(now) ? now->valuestring : "", quoted,
                         sizeof(quoted));
    azidt_validate_quote(cJSON_IsString(before) ? before->valuestring : "",
                         old_quoted, sizeof(old_quoted));
    add_error(result,
              "spec.%s%s%s: Invalid value: %s: field is immutable (it was "
              "%s): %s",
              parent ? parent : "", parent ? "." : "", name, quoted, old_quoted,
              why);
}

void azidt_validate_update(const cJSON *object, const cJSON *old_object,
                           struct azidt_validate_result *result)
{
    check_immutable(object, old_object, "appRegistration", "displayName",
                    "the webhook does not rename an existing application "
                    "registration; to use a new name, delete this "
                    "AzureIdentityTerminator and create a new one",
                    result);
    check_immutable(object, old_object, NULL, "azureIdentityName",
                    "it names the Secret, AzureIdentity and "
                    "AzureIdentityBinding that already exist and that "
                    "running pods use; to use a new name, create a new "
                    "AzureIdentityTerminator",
                    result);
    check_immutable(object, old_object, NULL, "nodeResourceGroup",
                    "the service principal already holds Reader on the "
                    "cluster's node resource group, which does not change "
                    "for a cluster; grant access to other resource groups "
                    "with spec.roleAssignments",
                    result);
}
