/*
 * Fault injection (latency, error statuses, connection resets) and the
 * call log that the admin endpoint reports.
 */
#include "emulator.h"

#include <stdlib.h>
#include <string.h>

/* The call log keeps at most this many entries; counts keep every call. */
#define CALL_LOG_MAX 20000

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

/* xorshift64*: small, fast and repeatable from a seed. */
static double next_random(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int int_field(const cJSON *json, const char *key, int def)
{
    const cJSON *item = cJSON_GetObjectItem(json, key);

    return cJSON_IsNumber(item) ? item->valueint : def;
}

struct emu_fault *emu_fault_parse(const cJSON *json, const char **error)
{
    const char *service = json_str(json, "service");
    const char *kind = json_str(json, "kind");
    const char *route = json_str(json, "route");
    const cJSON *prob = cJSON_GetObjectItem(json, "probability");
    const cJSON *seed = cJSON_GetObjectItem(json, "seed");
    struct emu_fault *f;

    if (!cJSON_IsObject(json)) {
        *error = "a fault must be a JSON object";
        return NULL;
    }
    if (service && strcmp(service, "token") != 0 &&
        strcmp(service, "graph") != 0 && strcmp(service, "arm") != 0 &&
        strcmp(service, "*") != 0) {
        *error = "service must be token, graph, arm or *";
        return NULL;
    }
    if (!kind || (strcmp(kind, "latency") != 0 && strcmp(kind, "status") != 0 &&
                  strcmp(kind, "reset") != 0)) {
        *error = "kind must be latency, status or reset";
        return NULL;
    }
    if (prob && (!cJSON_IsNumber(prob) || prob->valuedouble < 0 ||
                 prob->valuedouble > 1)) {
        *error = "probability must be a number from 0 to 1";
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        *error = "out of memory";
        return NULL;
    }
    snprintf(f->service, sizeof(f->service), "%s", service ? service : "*");
    snprintf(f->kind, sizeof(f->kind), "%s", kind);
    f->route = emu_strdup(route ? route : "*");
    f->status = int_field(json, "status", 503);
    f->code = emu_strdup(json_str(json, "code"));
    f->message = emu_strdup(json_str(json, "message"));
    if (strcmp(kind, "status") == 0 && (f->status < 400 || f->status > 599)) {
        emu_fault_free(f);
        *error = "status must be from 400 to 599";
        return NULL;
    }
    f->retry_after = int_field(json, "retryAfter", f->status == 429 ? 1 : -1);
    f->latency_ms = int_field(json, "latencyMs", 0);
    f->times = int_field(json, "times", -1);
    f->skip = int_field(json, "skip", 0);
    f->probability = prob ? prob->valuedouble : 1.0;
    f->seed = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 1;
    f->rng = f->seed ? f->seed : 0x9e3779b97f4a7c15ULL;
    return f;
}

void emu_fault_free(struct emu_fault *f)
{
    if (!f)
        return;
    free(f->route);
    free(f->code);
    free(f->message);
    free(f);
}

void emu_faults_clear(void)
{
    while (emu.faults) {
        struct emu_fault *next = emu.faults->next;

        emu_fault_free(emu.faults);
        emu.faults = next;
    }
}

/* Append a fault and give it an id. */
static void fault_append(struct emu_fault *f)
{
    struct emu_fault **tail = &emu.faults;

    f->id = ++emu.next_fault_id;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
}

bool emu_faults_load(const cJSON *config, const char **error)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(config, "faults"))
    {
        struct emu_fault *f = emu_fault_parse(item, error);

        if (!f)
            return false;
        fault_append(f);
    }
    return true;
}

cJSON *emu_faults_dump(void)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *rules = cJSON_AddArrayToObject(out, "rules");
    const struct emu_fault *f;

    cJSON_AddNumberToObject(out, "replicationDelayMs",
                            (double)emu.replication_delay_ms);
    cJSON_AddStringToObject(out, "replicationServicePrincipalError",
                            emu.replication_sp_error);
    for (f = emu.faults; f; f = f->next) {
        cJSON *r = cJSON_CreateObject();

        cJSON_AddNumberToObject(r, "id", f->id);
        cJSON_AddStringToObject(r, "service", f->service);
        cJSON_AddStringToObject(r, "route", f->route);
        cJSON_AddStringToObject(r, "kind", f->kind);
        if (strcmp(f->kind, "status") == 0) {
            cJSON_AddNumberToObject(r, "status", f->status);
            if (f->code)
                cJSON_AddStringToObject(r, "code", f->code);
            if (f->message)
                cJSON_AddStringToObject(r, "message", f->message);
            cJSON_AddNumberToObject(r, "retryAfter", f->retry_after);
        }
        if (strcmp(f->kind, "latency") == 0)
            cJSON_AddNumberToObject(r, "latencyMs", f->latency_ms);
        cJSON_AddNumberToObject(r, "times", f->times);
        cJSON_AddNumberToObject(r, "skip", f->skip);
        cJSON_AddNumberToObject(r, "probability", f->probability);
        cJSON_AddNumberToObject(r, "seed", (double)f->seed);
        cJSON_AddItemToArray(rules, r);
    }
    return out;
}

/* Set the error response that req's service sends for the fault status. */
static void fault_reply(struct emu_request *req, const struct emu_fault *f)
{
    char retry[16];
    const char *code, *message;

    if (f->retry_after >= 0) {
        snprintf(retry, sizeof(retry), "%d", f->retry_after);
        emu_add_header(req, "Retry-After", retry);
    }
    switch (req->service) {
    case EMU_TOKEN:
        if (f->code || f->message)
            emu_token_error(
                req, f->status, f->code ? f->code : "temporarily_unavailable",
                90033,
                f->message ? f->message : "A transient error has occurred.");
        else if (f->status == 429)
            emu_token_error(req, 429, "temporarily_unavailable", 90055,
                            "The request was throttled because of too many "
                            "requests. Retry after the time given in the "
                            "Retry-After header.");
        else if (f->status >= 500 && f->status != 500)
            emu_token_error(req, f->status, "temporarily_unavailable", 90033,
                            "A transient error has occurred. Please try "
                            "again.");
        else
            emu_token_error(req, f->status, "server_error", 50000,
                            "There was an error issuing a token or an issue "
                            "with our sign-in service.");
        return;
    case EMU_GRAPH:
        code = f->status == 429   ? "TooManyRequests"
               : f->status == 503 ? "serviceNotAvailable"
               : f->status == 504 ? "gatewayTimeout"
                                  : "generalException";
        message = f->status == 429
                      ? "Too many requests. Retry after the time given in "
                        "the Retry-After header."
                  : f->status == 503
                      ? "The service is temporarily unavailable. Please try "
                        "again later."
                      : "An unspecified error has occurred.";
        emu_graph_error(req, f->status, f->code ? f->code : code,
                        f->message ? f->message : message);
        return;
    default:
        code = f->status == 429   ? "TooManyRequests"
               : f->status == 503 ? "ServiceUnavailable"
               : f->status == 504 ? "GatewayTimeout"
                                  : "InternalServerError";
        message = f->status == 429
                      ? "The request is being throttled as the limit has "
                        "been reached for operation type - "
                        "Subscription_Requests. For more information, refer "
                        "to - https://aka.ms/armthrottling"
                  : f->status == 503
                      ? "The service is unavailable, please retry later."
                      : "Encountered internal server error. Diagnostic "
                        "information: timestamp '', subscription id '', "
                        "tracking id ''.";
        emu_arm_error(req, f->status, f->code ? f->code : code,
                      f->message ? f->message : message);
        return;
    }
}

/* Decide whether f fires for this request, updating its counters. */
static bool fault_fires(struct emu_fault *f, const struct emu_request *req)
{
    if (strcmp(f->service, "*") != 0 &&
        strcmp(f->service, emu_service_name(req->service)) != 0)
        return false;
    if (!emu_glob(f->route, req->route) || f->times == 0)
        return false;
    if (f->skip > 0) {
        f->skip--;
        return false;
    }
    if (f->probability < 1.0 && next_random(&f->rng) >= f->probability)
        return false;
    if (f->times > 0)
        f->times--;
    return true;
}

bool emu_faults_apply(struct emu_request *req, int *delay_ms)
{
    struct emu_fault *f, **link;
    bool replaced = false;

    *delay_ms = 0;
    for (f = emu.faults; f && !replaced; f = f->next) {
        if (!fault_fires(f, req))
            continue;
        if (strcmp(f->kind, "latency") == 0) {
            *delay_ms += f->latency_ms;
        } else if (strcmp(f->kind, "reset") == 0) {
            req->reset = true;
            replaced = true;
        } else {
            fault_reply(req, f);
            replaced = true;
        }
    }
    /* Drop rules that have used up their count. */
    link = &emu.faults;
    while (*link) {
        f = *link;
        if (f->times == 0) {
            *link = f->next;
            emu_fault_free(f);
        } else {
            link = &f->next;
        }
    }
    return replaced;
}

/* ---- call log ---- */

void emu_call_record(struct emu_request *req)
{
    struct emu_call *call;
    char key[256];
    cJSON *count;

    if (emu.call_len == emu.call_cap) {
        size_t cap = emu.call_cap ? emu.call_cap * 2 : 256;
        struct emu_call *grown;

        if (cap > CALL_LOG_MAX) {
            /* Drop the older half rather than grow without bound. */
            memmove(emu.calls, emu.calls + emu.call_len / 2,
                    (emu.call_len - emu.call_len / 2) * sizeof(*emu.calls));
            emu.call_len -= emu.call_len / 2;
        } else {
            grown = realloc(emu.calls, cap * sizeof(*grown));
            if (!grown)
                return;
            emu.calls = grown;
            emu.call_cap = cap;
        }
    }
    call = &emu.calls[emu.call_len++];
    call->seq = ++emu.next_call_seq;
    call->at_ms = emu_now_ms();
    call->service = req->service;
    snprintf(call->method, sizeof(call->method), "%s", req->method);
    snprintf(call->route, sizeof(call->route), "%s", req->route);
    call->status = req->reset ? 0 : req->status;

    if (!emu.call_counts)
        emu.call_counts = cJSON_CreateObject();
    snprintf(key, sizeof(key), "%s|%s|%d", emu_service_name(req->service),
             req->route, call->status);
    count = cJSON_GetObjectItemCaseSensitive(emu.call_counts, key);
    if (count)
        cJSON_SetNumberValue(count, count->valuedouble + 1);
    else
        cJSON_AddNumberToObject(emu.call_counts, key, 1);
}

cJSON *emu_calls_dump(uint64_t since)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *calls = cJSON_AddArrayToObject(out, "calls");
    cJSON *counts = cJSON_AddArrayToObject(out, "counts");
    const cJSON *item;
    size_t i;
    double total = 0;

    for (i = 0; i < emu.call_len; i++) {
        const struct emu_call *c = &emu.calls[i];
        cJSON *entry;
        char at[32];

        if (c->seq <= since)
            continue;
        entry = cJSON_CreateObject();
        emu_iso8601(c->at_ms, at);
        cJSON_AddNumberToObject(entry, "seq", (double)c->seq);
        cJSON_AddStringToObject(entry, "at", at);
        cJSON_AddStringToObject(entry, "service", emu_service_name(c->service));
        cJSON_AddStringToObject(entry, "route", c->route);
        cJSON_AddNumberToObject(entry, "status", c->status);
        cJSON_AddItemToArray(calls, entry);
    }
    cJSON_ArrayForEach(item, emu.call_counts)
    {
        char service[16], route[200], method[16];
        const char *space;
        int status = 0;
        const char *bar1 = strchr(item->string, '|');
        const char *bar2 = strrchr(item->string, '|');
        cJSON *entry = cJSON_CreateObject();

        snprintf(service, sizeof(service), "%.*s", (int)(bar1 - item->string),
                 item->string);
        snprintf(route, sizeof(route), "%.*s", (int)(bar2 - bar1 - 1),
                 bar1 + 1);
        status = atoi(bar2 + 1);
        /* Routes read "METHOD /template"; the method is also reported on
         * its own. */
        space = strchr(route, ' ');
        snprintf(method, sizeof(method), "%.*s",
                 space ? (int)(space - route) : 0, route);
        cJSON_AddStringToObject(entry, "service", service);
        cJSON_AddStringToObject(entry, "method", method);
        cJSON_AddStringToObject(entry, "route", route);
        cJSON_AddNumberToObject(entry, "status", status);
        cJSON_AddNumberToObject(entry, "count", item->valuedouble);
        cJSON_AddItemToArray(counts, entry);
        total += item->valuedouble;
    }
    cJSON_AddNumberToObject(out, "total", total);
    cJSON_AddNumberToObject(out, "lastSeq", (double)emu.next_call_seq);
    return out;
}

void emu_calls_clear(void)
{
    free(emu.calls);
    emu.calls = NULL;
    emu.call_len = 0;
    emu.call_cap = 0;
    cJSON_Delete(emu.call_counts);
    emu.call_counts = NULL;
}
