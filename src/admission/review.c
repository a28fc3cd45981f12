#include "azidt/admission.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define REVIEW_API_VERSION "admission.k8s.io/v1"
#define REVIEW_KIND "AdmissionReview"

static const char *const operation_names[] = {
    [AZIDT_OP_CREATE] = "CREATE",
    [AZIDT_OP_UPDATE] = "UPDATE",
    [AZIDT_OP_DELETE] = "DELETE",
    [AZIDT_OP_CONNECT] = "CONNECT",
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * Look up parent.name as a string. A missing or null member gives
 * fallback (and succeeds unless required); any other type fails.
 */
static bool get_string(const cJSON *parent, const char *name,
                       const char *prefix, bool required, const char *fallback,
                       const char **out, char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(parent, name);

    if (!item || cJSON_IsNull(item)) {
        if (required) {
            set_err(err, errlen, "missing %s%s", prefix, name);
            return false;
        }
        *out = fallback;
        return true;
    }
    if (!cJSON_IsString(item)) {
        set_err(err, errlen, "%s%s must be a string", prefix, name);
        return false;
    }
    *out = item->valuestring;
    return true;
}

/* Look up parent.name as an object; a missing or null member gives NULL. */
static bool get_object(const cJSON *parent, const char *name,
                       const char *prefix, bool required, const cJSON **out,
                       char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(parent, name);

    *out = NULL;
    if (!item || cJSON_IsNull(item)) {
        if (required)
            set_err(err, errlen, "missing %s%s", prefix, name);
        return !required;
    }
    if (!cJSON_IsObject(item)) {
        set_err(err, errlen, "%s%s must be an object", prefix, name);
        return false;
    }
    *out = item;
    return true;
}

static bool parse_envelope(const cJSON *review, const cJSON **request,
                           char *err, size_t errlen)
{
    const char *api_version = NULL, *kind = NULL;

    if (!cJSON_IsObject(review)) {
        set_err(err, errlen, "body must be a JSON object");
        return false;
    }
    if (!get_string(review, "apiVersion", "", true, NULL, &api_version, err,
                    errlen) ||
        !get_string(review, "kind", "", true, NULL, &kind, err, errlen))
        return false;
    if (strcmp(api_version, REVIEW_API_VERSION) != 0) {
        set_err(err, errlen, "apiVersion must be " REVIEW_API_VERSION);
        return false;
    }
    if (strcmp(kind, REVIEW_KIND) != 0) {
        set_err(err, errlen, "kind must be " REVIEW_KIND);
        return false;
    }
    return get_object(review, "request", "", true, request, err, errlen);
}

static bool parse_operation(const cJSON *request,
                            struct azidt_admission_request *req, char *err,
                            size_t errlen)
{
    const char *op = NULL;

    if (!get_string(request, "operation", "request.", true, NULL, &op, err,
                    errlen))
        return false;
    for (size_t i = 0; i < sizeof(operation_names) / sizeof(*operation_names);
         i++) {
        if (strcmp(op, operation_names[i]) == 0) {
            req->operation = (enum azidt_operation)i;
            return true;
        }
    }
    set_err(err, errlen,
            "request.operation must be CREATE, UPDATE, DELETE or CONNECT");
    return false;
}

static bool parse_kind(const cJSON *request,
                       struct azidt_admission_request *req, char *err,
                       size_t errlen)
{
    const cJSON *kind = NULL, *resource = NULL;

    if (!get_object(request, "kind", "request.", true, &kind, err, errlen) ||
        !get_string(kind, "group", "request.kind.", false, "", &req->group, err,
                    errlen) ||
        !get_string(kind, "version", "request.kind.", true, NULL, &req->version,
                    err, errlen) ||
        !get_string(kind, "kind", "request.kind.", true, NULL, &req->kind, err,
                    errlen))
        return false;
    if (!get_object(request, "resource", "request.", true, &resource, err,
                    errlen) ||
        !get_string(resource, "resource", "request.resource.", true, NULL,
                    &req->resource, err, errlen))
        return false;
    return get_string(request, "subResource", "request.", false, NULL,
                      &req->subresource, err, errlen);
}

/* request.object and request.oldObject: objects, or absent/null where the
 * operation has none. CREATE and UPDATE need object, UPDATE needs
 * oldObject. DELETE carries oldObject since Kubernetes 1.15, but a DELETE
 * without it is still accepted, so that a missing field never blocks a
 * deletion. */
static bool parse_objects(const cJSON *request,
                          struct azidt_admission_request *req, char *err,
                          size_t errlen)
{
    bool needs_object =
        req->operation == AZIDT_OP_CREATE || req->operation == AZIDT_OP_UPDATE;
    bool needs_old = req->operation == AZIDT_OP_UPDATE;

    return get_object(request, "object", "request.", needs_object, &req->object,
                      err, errlen) &&
           get_object(request, "oldObject", "request.", needs_old,
                      &req->old_object, err, errlen);
}

static bool parse_identity(const cJSON *request,
                           struct azidt_admission_request *req, char *err,
                           size_t errlen)
{
    const cJSON *user = NULL, *metadata = NULL, *dry_run;
    const char *fallback_name = "";
    const cJSON *named = req->object ? req->object : req->old_object;

    if (!get_string(request, "namespace", "request.", false, "",
                    &req->namespace_, err, errlen) ||
        !get_object(request, "userInfo", "request.", false, &user, err,
                    errlen) ||
        !get_string(user, "username", "request.userInfo.", false, "",
                    &req->username, err, errlen))
        return false;

    /* The apiserver leaves request.name empty on CREATE with generateName,
     * so fall back to the object's own name. */
    metadata = cJSON_GetObjectItemCaseSensitive(named, "metadata");
    if (cJSON_IsObject(metadata) &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(metadata, "name")))
        fallback_name =
            cJSON_GetObjectItemCaseSensitive(metadata, "name")->valuestring;
    if (!get_string(request, "name", "request.", false, fallback_name,
                    &req->name, err, errlen))
        return false;
    if (req->name[0] == '\0')
        req->name = fallback_name;

    dry_run = cJSON_GetObjectItemCaseSensitive(request, "dryRun");
    if (dry_run && !cJSON_IsNull(dry_run) && !cJSON_IsBool(dry_run)) {
        set_err(err, errlen, "request.dryRun must be a boolean");
        return false;
    }
    req->dry_run = cJSON_IsTrue(dry_run);
    return true;
}

/*
 * Return a copy of body in which every \u0000 escape reads \u0001, or
 * NULL when body has none (or on allocation failure, with *nomem set).
 * cJSON ends a string at an escaped NUL, so "good\u0000BAD" would reach
 * the handlers as "good" while the apiserver stores all of it. U+0001 is
 * kept whole, and every string rule rejects it as a control character,
 * so the handlers judge what is stored. Valid JSON has backslashes only
 * inside strings, so skipping each escape pair finds every escape.
 */
static char *replace_nul_escapes(const char *body, size_t len, bool *nomem)
{
    char *copy = NULL;

    *nomem = false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (body[i] != '\\')
            continue;
        if (body[i + 1] == 'u' && i + 5 < len &&
            memcmp(body + i + 2, "0000", 4) == 0) {
            if (!copy) {
                copy = malloc(len);
                if (!copy) {
                    *nomem = true;
                    return NULL;
                }
                memcpy(copy, body, len);
            }
            copy[i + 5] = '1';
        }
        i++;
    }
    return copy;
}

azidt_err azidt_admission_parse(const char *body, size_t len,
                                struct azidt_admission_request **out, char *err,
                                size_t errlen)
{
    struct azidt_admission_request *req = NULL;
    const cJSON *request = NULL;
    char *copy = NULL;
    bool nomem;
    azidt_err rc = AZIDT_ERR_INVALID;

    set_err(err, errlen, "%s", "");
    if (!out)
        return AZIDT_ERR_INVALID;
    *out = NULL;
    if (!body) {
        set_err(err, errlen, "empty body");
        return AZIDT_ERR_INVALID;
    }
    req = calloc(1, sizeof(*req));
    if (!req) {
        set_err(err, errlen, "out of memory");
        return AZIDT_ERR_NOMEM;
    }
    copy = replace_nul_escapes(body, len, &nomem);
    if (nomem) {
        set_err(err, errlen, "out of memory");
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    req->review = cJSON_ParseWithLength(copy ? copy : body, len);
    if (!req->review) {
        set_err(err, errlen, "body is not valid JSON");
        goto out;
    }
    if (!parse_envelope(req->review, &request, err, errlen) ||
        !get_string(request, "uid", "request.", true, NULL, &req->uid, err,
                    errlen))
        goto out;
    if (req->uid[0] == '\0') {
        set_err(err, errlen, "request.uid must not be empty");
        goto out;
    }
    if (!parse_operation(request, req, err, errlen) ||
        !parse_kind(request, req, err, errlen) ||
        !parse_objects(request, req, err, errlen) ||
        !parse_identity(request, req, err, errlen))
        goto out;

    *out = req;
    req = NULL;
    rc = AZIDT_OK;

out:
    free(copy);
    azidt_admission_request_free(req);
    return rc;
}

void azidt_admission_request_free(struct azidt_admission_request *req)
{
    if (!req)
        return;
    cJSON_Delete(req->review);
    free(req);
}

void azidt_admission_allow(struct azidt_admission_response *resp)
{
    resp->allowed = true;
    resp->code = 200;
}

void azidt_admission_deny(struct azidt_admission_response *resp, int code,
                          const char *fmt, ...)
{
    va_list ap;

    resp->allowed = false;
    resp->code = code;
    free(resp->message);
    resp->message = NULL;
    va_start(ap, fmt);
    if (vasprintf(&resp->message, fmt, ap) < 0)
        resp->message = NULL;
    va_end(ap);
    /* A denial never carries a patch: the apiserver would ignore it. */
    cJSON_Delete(resp->patch);
    resp->patch = NULL;
}

azidt_err azidt_admission_warn(struct azidt_admission_response *resp,
                               const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    char **grown;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AZIDT_ERR_NOMEM;
    grown = realloc(resp->warnings,
                    (resp->warning_count + 1) * sizeof(*resp->warnings));
    if (!grown) {
        free(text);
        return AZIDT_ERR_NOMEM;
    }
    resp->warnings = grown;
    resp->warnings[resp->warning_count++] = text;
    return AZIDT_OK;
}

void azidt_admission_response_clear(struct azidt_admission_response *resp)
{
    if (!resp)
        return;
    free(resp->message);
    free(resp->reason);
    cJSON_Delete(resp->patch);
    for (size_t i = 0; i < resp->warning_count; i++)
        free(resp->warnings[i]);
    free(resp->warnings);
    memset(resp, 0, sizeof(*resp));
}

/* Return text base64-encoded without line breaks, or NULL. */
static char *base64_encode(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text,
                        (int)len);
    return out;
}

static bool add_status(cJSON *response,
                       const struct azidt_admission_response *resp)
{
    cJSON *status = cJSON_AddObjectToObject(response, "status");
    int code = resp->code >= 400 ? resp->code : 403;

    return status && cJSON_AddStringToObject(status, "status", "Failure") &&
           cJSON_AddNumberToObject(status, "code", code) &&
           cJSON_AddStringToObject(status, "message",
                                   resp->message ? resp->message : "denied") &&
           (!resp->reason ||
            cJSON_AddStringToObject(status, "reason", resp->reason));
}

static bool add_patch(cJSON *response,
                      const struct azidt_admission_response *resp)
{
    char *text = NULL, *encoded = NULL;
    bool ok = false;

    text = cJSON_PrintUnformatted(resp->patch);
    if (!text)
        goto out;
    encoded = base64_encode(text);
    if (!encoded)
        goto out;
    ok = cJSON_AddStringToObject(response, "patchType", "JSONPatch") &&
         cJSON_AddStringToObject(response, "patch", encoded);

out:
    free(text);
    free(encoded);
    return ok;
}

static bool add_warnings(cJSON *response,
                         const struct azidt_admission_response *resp)
{
    cJSON *warnings = cJSON_AddArrayToObject(response, "warnings");

    if (!warnings)
        return false;
    for (size_t i = 0; i < resp->warning_count; i++) {
        cJSON *item = cJSON_CreateString(resp->warnings[i]);

        if (!item || !cJSON_AddItemToArray(warnings, item)) {
            cJSON_Delete(item);
            return false;
        }
    }
    return true;
}

char *azidt_admission_response_json(const char *uid,
                                    const struct azidt_admission_response *resp)
{
    cJSON *review = NULL, *response = NULL;
    char *text = NULL;

    review = cJSON_CreateObject();
    if (!review ||
        !cJSON_AddStringToObject(review, "apiVersion", REVIEW_API_VERSION) ||
        !cJSON_AddStringToObject(review, "kind", REVIEW_KIND))
        goto out;
    response = cJSON_AddObjectToObject(review, "response");
    if (!response ||
        !cJSON_AddStringToObject(response, "uid", uid ? uid : "") ||
        !cJSON_AddBoolToObject(response, "allowed", resp->allowed))
        goto out;
    if (!resp->allowed && !add_status(response, resp))
        goto out;
    if (resp->allowed && resp->patch && cJSON_GetArraySize(resp->patch) > 0 &&
        !add_patch(response, resp))
        goto out;
    if (resp->warning_count > 0 && !add_warnings(response, resp))
        goto out;
    text = cJSON_PrintUnformatted(review);

out:
    cJSON_Delete(review);
    return text;
}
