/*
 * The admin endpoint: state, call log, reset, faults, clock and federated
 * issuers. It is never faulted and never logged as a call.
 */
#include "emulator.h"

#include <stdlib.h>
#include <string.h>

static void admin_error(struct emu_request *req, int status,
                        const char *message)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddStringToObject(body, "error", message);
    emu_reply_json(req, status, body);
}

static cJSON *body_object(struct emu_request *req)
{
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);

    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        admin_error(req, 400, "the request body must be a JSON object");
        return NULL;
    }
    return body;
}

static bool set_replication(struct emu_request *req, const cJSON *body)
{
    const cJSON *delay = cJSON_GetObjectItem(body, "replicationDelayMs");
    const cJSON *sp_error =
        cJSON_GetObjectItem(body, "replicationServicePrincipalError");

    if (delay && (!cJSON_IsNumber(delay) || delay->valuedouble < 0)) {
        admin_error(req, 400, "replicationDelayMs must be a number >= 0");
        return false;
    }
    if (sp_error && (!cJSON_IsString(sp_error) ||
                     (strcmp(sp_error->valuestring, "400") != 0 &&
                      strcmp(sp_error->valuestring, "403") != 0))) {
        admin_error(req, 400,
                    "replicationServicePrincipalError must be \"400\" or "
                    "\"403\"");
        return false;
    }
    if (delay)
        emu.replication_delay_ms = (int64_t)delay->valuedouble;
    if (sp_error)
        snprintf(emu.replication_sp_error, sizeof(emu.replication_sp_error),
                 "%s", sp_error->valuestring);
    return true;
}

/* PUT /faults: replace the settings and every rule. */
static void put_faults(struct emu_request *req, const cJSON *body)
{
    struct emu_fault *head = NULL, **tail = &head, *f;
    const cJSON *item;
    const char *error = NULL;

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(body, "rules"))
    {
        f = emu_fault_parse(item, &error);
        if (!f) {
            while (head) {
                f = head->next;
                emu_fault_free(head);
                head = f;
            }
            admin_error(req, 400, error);
            return;
        }
        *tail = f;
        tail = &f->next;
    }
    if (!set_replication(req, body))
        return;
    emu_faults_clear();
    emu.faults = head;
    for (f = head; f; f = f->next)
        f->id = ++emu.next_fault_id;
    emu_reply_json(req, 200, emu_faults_dump());
}

static void post_fault(struct emu_request *req, const cJSON *body)
{
    const char *error = NULL;
    struct emu_fault *f = emu_fault_parse(body, &error), **tail;
    cJSON *out;

    if (!f) {
        admin_error(req, 400, error);
        return;
    }
    f->id = ++emu.next_fault_id;
    for (tail = &emu.faults; *tail; tail = &(*tail)->next)
        ;
    *tail = f;
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "id", f->id);
    emu_reply_json(req, 201, out);
}

static void delete_fault(struct emu_request *req, int id)
{
    struct emu_fault **link = &emu.faults, *f;

    while ((f = *link)) {
        if (f->id == id) {
            *link = f->next;
            emu_fault_free(f);
            emu_reply_empty(req, 204);
            return;
        }
        link = &f->next;
    }
    admin_error(req, 404, "no fault rule has this id");
}

static void reply_clock(struct emu_request *req)
{
    cJSON *out = cJSON_CreateObject();
    char now[32];

    emu_iso8601(emu_now_ms(), now);
    cJSON_AddStringToObject(out, "now", now);
    cJSON_AddNumberToObject(out, "offsetMs", (double)emu.clock_offset_ms);
    emu_reply_json(req, 200, out);
}

/* PUT /clock: {"offsetSeconds": n}, {"advanceSeconds": n} or
 * {"now": "2030-01-01T00:00:00Z"}. */
static void put_clock(struct emu_request *req, const cJSON *body)
{
    const cJSON *offset = cJSON_GetObjectItem(body, "offsetSeconds");
    const cJSON *advance = cJSON_GetObjectItem(body, "advanceSeconds");
    const char *now = cJSON_GetStringValue(cJSON_GetObjectItem(body, "now"));
    int64_t value, when;

    if (cJSON_IsNumber(offset)) {
        value = (int64_t)(offset->valuedouble * 1000);
    } else if (cJSON_IsNumber(advance)) {
        value = emu.clock_offset_ms + (int64_t)(advance->valuedouble * 1000);
    } else if (now && emu_parse_iso8601(now, &when)) {
        value = when - (emu_now_ms() - emu.clock_offset_ms);
    } else {
        admin_error(req, 400,
                    "set offsetSeconds, advanceSeconds or now (RFC 3339 UTC)");
        return;
    }
    __atomic_store_n(&emu.clock_offset_ms, value, __ATOMIC_RELAXED);
    reply_clock(req);
}

static void put_issuer(struct emu_request *req, const cJSON *body)
{
    const char *issuer =
        cJSON_GetStringValue(cJSON_GetObjectItem(body, "issuer"));
    const cJSON *jwks = cJSON_GetObjectItem(body, "jwks");

    if (!issuer || !cJSON_IsArray(cJSON_GetObjectItem(jwks, "keys"))) {
        admin_error(req, 400, "set issuer and jwks with a keys array");
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(emu.issuers, issuer);
    cJSON_AddItemToObject(emu.issuers, issuer, cJSON_Duplicate(jwks, true));
    emu_reply_empty(req, 204);
}

void emu_admin_handle(struct emu_request *req)
{
    const char *m = req->method, *p = req->path;
    bool get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0;
    bool post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
    cJSON *body = NULL;

    if (get && strcmp(p, "/healthz") == 0) {
        emu_reply_json(req, 200, cJSON_CreateObject());
    } else if (get && strcmp(p, "/state") == 0) {
        emu_reply_json(req, 200, emu_state_dump());
    } else if (get && strcmp(p, "/calls") == 0) {
        const char *since = emu_query(req, "since");

        emu_reply_json(req, 200,
                       emu_calls_dump(since ? strtoull(since, NULL, 10) : 0));
    } else if (del && strcmp(p, "/calls") == 0) {
        emu_calls_clear();
        emu_reply_empty(req, 204);
    } else if (post && strcmp(p, "/reset") == 0) {
        emu_store_reset();
        emu_reply_empty(req, 204);
    } else if (get && strcmp(p, "/faults") == 0) {
        emu_reply_json(req, 200, emu_faults_dump());
    } else if ((put || post) && strcmp(p, "/faults") == 0) {
        body = body_object(req);
        if (body && put)
            put_faults(req, body);
        else if (body)
            post_fault(req, body);
    } else if (del && strcmp(p, "/faults") == 0) {
        emu_faults_clear();
        emu_reply_empty(req, 204);
    } else if (del && strncmp(p, "/faults/", 8) == 0) {
        delete_fault(req, atoi(p + 8));
    } else if (get && strcmp(p, "/clock") == 0) {
        reply_clock(req);
    } else if (put && strcmp(p, "/clock") == 0) {
        body = body_object(req);
        if (body)
            put_clock(req, body);
    } else if (put && strcmp(p, "/issuers") == 0) {
        body = body_object(req);
        if (body)
            put_issuer(req, body);
    } else {
        admin_error(req, 404, "unknown admin route; see docs/emulator.md");
    }
    cJSON_Delete(body);
}
