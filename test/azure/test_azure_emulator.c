/*
 * The Azure client against the Azure emulator (azidt-azure-emulator).
 *
 * run-emulator-tests.sh starts the emulator and exports its AZURE_*
 * settings, including AZURE_EMULATOR_ADMIN_URL, whose /state, /calls,
 * /faults and /reset routes let a test set faults and check what the
 * emulator holds. Every test resets the emulator first.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "azidt/arm.h"
#include "azidt/azure_client.h"
#include "azidt/clock.h"
#include "azidt/graph.h"

#define RESOURCE_GROUP "azidt-demo-nodes"
/* Deadline of one provisioning run, as the webhook would use it. */
#define PROVISION_BUDGET_MS 25000
/* How long the deadline tests may overrun their deadline. */
#define DEADLINE_MARGIN_MS 300
#define TOKEN_ROUTE "POST /{tenant}/oauth2/v2.0/token"

/* ---- admin endpoint ---- */

struct buffer {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *buf = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(buf->data, buf->len + n + 1);

    if (!grown)
        return 0;
    buf->data = grown;
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

/* Send one admin request and return its parsed JSON response, or NULL. */
static cJSON *admin(const char *method, const char *path, const char *body)
{
    const char *base = getenv("AZURE_EMULATOR_ADMIN_URL");
    struct curl_slist *headers = NULL;
    struct buffer buf = {0};
    char url[512];
    long status = 0;
    CURL *curl = curl_easy_init();
    cJSON *json;

    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(curl);
    snprintf(url, sizeof(url), "%s%s", base, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_CAINFO, getenv("AZURE_CA_FILE"));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    ck_assert_int_eq(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_msg(status >= 200 && status < 300, "admin %s %s: HTTP %ld %s",
                  method, path, status, buf.data ? buf.data : "");
    json = buf.data ? cJSON_Parse(buf.data) : NULL;
    free(buf.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return json;
}

static void admin_do(const char *method, const char *path, const char *body)
{
    cJSON_Delete(admin(method, path, body));
}

/* Count entries of state[array] whose field equals value. */
static int count_in_state(const char *array, const char *field,
                          const char *value)
{
    cJSON *state = admin("GET", "/state", NULL);
    const cJSON *item;
    int n = 0;

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(state, array))
    {
        const cJSON *v = cJSON_GetObjectItem(item, field);

        if (!cJSON_IsString(v)) {
            const cJSON *props = cJSON_GetObjectItem(item, "properties");

            v = cJSON_GetObjectItem(props, field);
        }
        if (cJSON_IsString(v) && strcasecmp(v->valuestring, value) == 0)
            n++;
    }
    cJSON_Delete(state);
    return n;
}

/* Return the number of calls the emulator logged, and of those on route. */
static int count_calls(const char *route, int *on_route)
{
    cJSON *calls = admin("GET", "/calls", NULL);
    const cJSON *item;
    int n = 0;

    *on_route = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(calls, "calls"))
    {
        const char *r =
            cJSON_GetStringValue(cJSON_GetObjectItem(item, "route"));

        n++;
        if (route && r && strcmp(r, route) == 0)
            (*on_route)++;
    }
    cJSON_Delete(calls);
    return n;
}

static void reset_emulator(void)
{
    admin_do("POST", "/reset", NULL);
    admin_do("DELETE", "/faults", NULL);
    admin_do("DELETE", "/calls", NULL);
}

/* ---- client ---- */

static struct azidt_azure_client *new_client(void)
{
    struct azidt_azure_config *cfg = NULL;
    struct azidt_azure_client *client = NULL;
    char err[1024] = "";

    ck_assert_msg(azidt_azure_config_from_env(&cfg, err, sizeof(err)) ==
                      AZIDT_OK,
                  "%s", err);
    ck_assert_msg(azidt_azure_client_new(cfg, &client, err, sizeof(err)) ==
                      AZIDT_OK,
                  "%s", err);
    return client;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];

    ck_assert_uint_le(bytes, sizeof(raw));
    RAND_bytes(raw, (int)bytes);
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
}

static void scope_of_group(struct azidt_azure_client *client, char *out,
                           size_t outlen)
{
    snprintf(out, outlen, "/subscriptions/%s/resourceGroups/%s",
             azidt_azure_client_config(client)->subscription_id,
             RESOURCE_GROUP);
}

/* What one provisioning run created or adopted. */
struct identity {
    char unique_name[64];
    struct azidt_graph_app app;
    struct azidt_graph_sp sp;
    struct azidt_graph_password password;
    struct azidt_arm_role_assignment assignment;
    bool app_created, sp_created, assignment_created;
};

static void identity_clear(struct identity *id)
{
    azidt_graph_app_clear(&id->app);
    azidt_graph_sp_clear(&id->sp);
    azidt_graph_password_clear(&id->password);
}

/* The webhook's create sequence: application, service principal, client
 * secret and Reader on the node resource group. */
static azidt_err provision(struct azidt_azure_client *client,
                           struct identity *id, int64_t deadline_ms, char *err,
                           size_t errlen)
{
    const char *tags[] = {"azidterminator.io:managed", "test:emulator"};
    const char *sp_tags[] = {"azure-kv-aks-test"};
    char scope[512], role[1024];
    azidt_err rc;

    identity_clear(id);
    rc = azidt_graph_app_upsert(client, id->unique_name, "emulator-test-app",
                                tags, 2, deadline_ms, &id->app,
                                &id->app_created, err, errlen);
    if (rc)
        return rc;
    rc = azidt_graph_sp_create(client, id->app.app_id, sp_tags, 1, deadline_ms,
                               &id->sp, &id->sp_created, err, errlen);
    if (rc)
        return rc;
    rc = azidt_graph_app_add_password(
        client, id->app.id, "emulator test",
        azidt_clock_wall_ms() + 720LL * 3600 * 1000, AZIDT_GRAPH_NEW_OBJECT,
        deadline_ms, &id->password, err, errlen);
    if (rc)
        return rc;
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP, deadline_ms, NULL,
                                      err, errlen);
    if (rc)
        return rc;
    rc = azidt_arm_role_definition_id(client, "Reader", deadline_ms, role,
                                      sizeof(role), err, errlen);
    if (rc)
        return rc;
    scope_of_group(client, scope, sizeof(scope));
    return azidt_arm_role_assignment_create(
        client, scope, role, id->sp.id, deadline_ms, &id->assignment,
        &id->assignment_created, err, errlen);
}

static azidt_err teardown(struct azidt_azure_client *client,
                          struct identity *id, int64_t deadline_ms, char *err,
                          size_t errlen)
{
    azidt_err rc = AZIDT_OK;

    /* Role assignments go first, because deleting the principal would
     * orphan them. */
    if (id->assignment.id[0])
        rc = azidt_arm_role_assignment_delete(client, id->assignment.id,
                                              deadline_ms, err, errlen);
    if (rc == AZIDT_OK && id->app.id[0])
        rc = azidt_graph_app_delete(client, id->app.id, true, deadline_ms, err,
                                    errlen);
    return rc;
}

/* Poll the token endpoint with secret until it issues a token, as a new
 * secret can be rejected for a short while. */
static azidt_err secret_gets_token(struct azidt_azure_client *client,
                                   const char *app_id, const char *secret,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen)
{
    const struct azidt_azure_config *cfg = azidt_azure_client_config(client);
    char scope[600];
    azidt_err rc;

    snprintf(scope, sizeof(scope), "%s/.default", cfg->graph_endpoint);
    for (;;) {
        rc = azidt_azure_auth_check_secret(azidt_azure_client_http(client), cfg,
                                           app_id, secret, scope, deadline_ms,
                                           err, errlen);
        if (rc != AZIDT_ERR_UNAUTHORIZED || azidt_deadline_passed(deadline_ms))
            return rc;
        struct timespec pause = {0, 250 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static void new_identity(struct identity *id)
{
    memset(id, 0, sizeof(*id));
    strcpy(id->unique_name, "azidt-");
    random_hex(id->unique_name + 6, 16);
}

static void assert_no_secret(const char *err, const struct identity *id)
{
    if (id->password.secret_text)
        ck_assert_ptr_null(strstr(err, id->password.secret_text));
    ck_assert_ptr_null(strstr(err, getenv("AZURE_CLIENT_SECRET")));
}

/* ---- tests ---- */

START_TEST(emulator_create_and_teardown)
{
    struct azidt_azure_client *client = new_client();
    struct identity id;
    char err[2048] = "";
    int64_t deadline;
    azidt_err rc;

    reset_emulator();
    new_identity(&id);
    deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    rc = provision(client, &id, deadline, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "provision: %s", err);
    ck_assert(id.app_created);
    ck_assert(id.sp_created);
    ck_assert(id.assignment_created);
    ck_assert_str_eq(id.app.unique_name, id.unique_name);
    ck_assert_str_eq(id.sp.app_id, id.app.app_id);
    ck_assert_ptr_nonnull(id.password.secret_text);
    ck_assert_str_eq(id.assignment.principal_id, id.sp.id);
    ck_assert_str_eq(id.assignment.principal_type, "ServicePrincipal");

    ck_assert_int_eq(
        count_in_state("applications", "uniqueName", id.unique_name), 1);
    ck_assert_int_eq(
        count_in_state("servicePrincipals", "appId", id.app.app_id), 1);
    ck_assert_int_eq(count_in_state("roleAssignments", "principalId", id.sp.id),
                     1);

    rc = secret_gets_token(client, id.app.app_id, id.password.secret_text,
                           azidt_deadline_in(20000), err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "token with the new secret: %s", err);

    rc = teardown(client, &id, azidt_deadline_in(PROVISION_BUDGET_MS), err,
                  sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "teardown: %s", err);
    ck_assert_int_eq(
        count_in_state("applications", "uniqueName", id.unique_name), 0);
    ck_assert_int_eq(count_in_state("deletedItems", "id", id.app.id), 0);
    ck_assert_int_eq(
        count_in_state("servicePrincipals", "appId", id.app.app_id), 0);
    ck_assert_int_eq(count_in_state("roleAssignments", "principalId", id.sp.id),
                     0);

    rc = azidt_azure_auth_check_secret(
        azidt_azure_client_http(client), azidt_azure_client_config(client),
        id.app.app_id, id.password.secret_text,
        "https://graph.microsoft.com/"
        ".default",
        azidt_deadline_in(5000), err, sizeof(err));
    ck_assert_int_eq(rc, AZIDT_ERR_UNAUTHORIZED);
    assert_no_secret(err, &id);

    identity_clear(&id);
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_rerun_is_idempotent)
{
    struct azidt_azure_client *client = new_client();
    struct identity id;
    char err[2048] = "", first_app[64], first_sp[64], first_ra[64];
    azidt_err rc;

    reset_emulator();
    new_identity(&id);
    rc = provision(client, &id, azidt_deadline_in(PROVISION_BUDGET_MS), err,
                   sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "first run: %s", err);
    strcpy(first_app, id.app.id);
    strcpy(first_sp, id.sp.id);
    strcpy(first_ra, id.assignment.name);

    rc = provision(client, &id, azidt_deadline_in(PROVISION_BUDGET_MS), err,
                   sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "second run: %s", err);
    ck_assert(!id.app_created);
    ck_assert(!id.sp_created);
    ck_assert(!id.assignment_created);
    ck_assert_str_eq(id.app.id, first_app);
    ck_assert_str_eq(id.sp.id, first_sp);
    ck_assert_str_eq(id.assignment.name, first_ra);

    ck_assert_int_eq(
        count_in_state("applications", "uniqueName", id.unique_name), 1);
    ck_assert_int_eq(
        count_in_state("servicePrincipals", "appId", id.app.app_id), 1);
    ck_assert_int_eq(count_in_state("roleAssignments", "principalId", id.sp.id),
                     1);

    rc = teardown(client, &id, azidt_deadline_in(PROVISION_BUDGET_MS), err,
                  sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "teardown: %s", err);
    identity_clear(&id);
    azidt_azure_client_free(client);
}
END_TEST

/* An equal assignment under another name (made by an earlier version or
 * by hand) gives 409 RoleAssignmentExists and is adopted. */
START_TEST(emulator_adopts_existing_assignment)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_azure_response resp;
    struct azidt_arm_role_assignment ra;
    struct identity id;
    char err[2048] = "", scope[512], role[1024], url[2048], name[40];
    char body[2048];
    bool created = true;
    int64_t deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    azidt_err rc;
    cJSON *json;

    reset_emulator();
    new_identity(&id);
    rc = azidt_graph_app_upsert(client, id.unique_name, "adopt-test", NULL, 0,
                                deadline, &id.app, &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    rc = azidt_graph_sp_create(client, id.app.app_id, NULL, 0, deadline, &id.sp,
                               &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    scope_of_group(client, scope, sizeof(scope));
    rc = azidt_arm_role_definition_id(client, "Reader", deadline, role,
                                      sizeof(role), err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);

    /* Create the assignment under a name the client would not choose. */
    strcpy(name, "00000000-0000-4000-8000-");
    random_hex(name + strlen(name), 6);
    snprintf(url, sizeof(url),
             "%s%s/providers/Microsoft.Authorization/roleAssignments/%s"
             "?api-version=2022-04-01",
             azidt_azure_client_config(client)->arm_endpoint, scope, name);
    snprintf(body, sizeof(body),
             "{\"properties\":{\"roleDefinitionId\":\"%s\",\"principalId\":"
             "\"%s\",\"principalType\":\"ServicePrincipal\"}}",
             role, id.sp.id);
    json = cJSON_Parse(body);
    struct azidt_azure_request req = {.operation = "create a foreign "
                                                   "assignment",
                                      .method = "PUT",
                                      .url = url,
                                      .json = json,
                                      .idempotent = true,
                                      .deadline_ms = deadline};
    rc = azidt_azure_client_send(client, AZIDT_AZURE_ARM, &req, &resp, err,
                                 sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    azidt_azure_response_clear(&resp);
    cJSON_Delete(json);

    rc = azidt_arm_role_assignment_create(client, scope, role, id.sp.id,
                                          deadline, &ra, &created, err,
                                          sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert(!created);
    ck_assert_str_eq(ra.name, name);
    ck_assert_int_eq(count_in_state("roleAssignments", "principalId", id.sp.id),
                     1);

    id.assignment = ra;
    rc = teardown(client, &id, deadline, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "teardown: %s", err);
    identity_clear(&id);
    azidt_azure_client_free(client);
}
END_TEST

/* Replication delay and 429s on every service: the create sequence still
 * finishes within its deadline, with a bounded number of calls. */
START_TEST(emulator_throttled_and_replicating)
{
    static const char faults[] =
        "{\"replicationDelayMs\":3000,"
        "\"replicationServicePrincipalError\":\"400\","
        "\"rules\":["
        "{\"service\":\"token\",\"kind\":\"status\",\"status\":429,"
        "\"retryAfter\":1,\"times\":1},"
        "{\"service\":\"graph\",\"route\":\"PATCH *\",\"kind\":\"status\","
        "\"status\":429,\"retryAfter\":1,\"times\":1},"
        "{\"service\":\"graph\",\"route\":\"POST /v1.0/servicePrincipals\","
        "\"kind\":\"status\",\"status\":429,\"retryAfter\":1,\"times\":1},"
        "{\"service\":\"graph\",\"route\":\"*addPassword\","
        "\"kind\":\"status\",\"status\":429,\"times\":1},"
        "{\"service\":\"graph\",\"route\":\"GET *\",\"kind\":\"status\","
        "\"status\":503,\"times\":1},"
        "{\"service\":\"arm\",\"route\":\"PUT *\",\"kind\":\"status\","
        "\"status\":429,\"retryAfter\":1,\"times\":1},"
        "{\"service\":\"arm\",\"route\":\"GET *\",\"kind\":\"status\","
        "\"status\":503,\"times\":1}"
        "]}";
    struct azidt_azure_client *client = new_client();
    struct identity id;
    char err[2048] = "";
    uint64_t attempts_before;
    int64_t started, elapsed;
    int calls, token_calls;
    azidt_err rc;

    reset_emulator();
    admin_do("PUT", "/faults", faults);
    new_identity(&id);
    attempts_before =
        azidt_azure_http_attempt_count(azidt_azure_client_http(client));
    started = azidt_clock_now_ms();
    rc =
        provision(client, &id, started + PROVISION_BUDGET_MS, err, sizeof(err));
    elapsed = azidt_clock_now_ms() - started;
    ck_assert_msg(rc == AZIDT_OK, "provision: %s", err);
    calls = count_calls(TOKEN_ROUTE, &token_calls);
    printf("throttled+replicating create: %lld ms, %llu client attempts, "
           "%d emulator calls (%d token)\n",
           (long long)elapsed,
           (unsigned long long)(azidt_azure_http_attempt_count(
                                    azidt_azure_client_http(client)) -
                                attempts_before),
           calls, token_calls);
    fflush(stdout);
    ck_assert_int_lt(elapsed, PROVISION_BUDGET_MS);
    ck_assert_int_le(calls, 25);
    ck_assert_int_le(token_calls, 3);
    ck_assert_int_eq(
        count_in_state("servicePrincipals", "appId", id.app.app_id), 1);
    ck_assert_int_eq(count_in_state("roleAssignments", "principalId", id.sp.id),
                     1);

    /* A new secret can be rejected while it replicates, and works after. */
    rc = secret_gets_token(client, id.app.app_id, id.password.secret_text,
                           azidt_deadline_in(20000), err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "token with the new secret: %s", err);

    admin_do("DELETE", "/faults", NULL);
    rc = teardown(client, &id, azidt_deadline_in(PROVISION_BUDGET_MS), err,
                  sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "teardown: %s", err);
    identity_clear(&id);
    azidt_azure_client_free(client);
}
END_TEST

/* Without faults, count the calls of one create for comparison. */
START_TEST(emulator_create_call_count)
{
    struct azidt_azure_client *client = new_client();
    struct identity id;
    char err[2048] = "";
    int64_t started, elapsed;
    int calls, token_calls;
    azidt_err rc;

    reset_emulator();
    new_identity(&id);
    started = azidt_clock_now_ms();
    rc =
        provision(client, &id, started + PROVISION_BUDGET_MS, err, sizeof(err));
    elapsed = azidt_clock_now_ms() - started;
    ck_assert_msg(rc == AZIDT_OK, "provision: %s", err);
    calls = count_calls(TOKEN_ROUTE, &token_calls);
    printf("plain create: %lld ms, %d emulator calls (%d token)\n",
           (long long)elapsed, calls, token_calls);
    fflush(stdout);
    ck_assert_int_eq(token_calls, 2);
    ck_assert_int_le(calls, 8);
    identity_clear(&id);
    azidt_azure_client_free(client);
}
END_TEST

/* Both replication errors of a service principal create are retried:
 * 400 "does not reference a valid application object" and 403 "... must
 * in the local tenant". */
START_TEST(emulator_sp_replication_errors)
{
    static const char *const errors[] = {"400", "403"};
    struct azidt_azure_client *client = new_client();
    char err[2048] = "", name[64], faults[200];
    int64_t deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    struct azidt_graph_app app;
    struct azidt_graph_sp sp;
    int on_route;
    bool created;
    azidt_err rc;

    reset_emulator();
    snprintf(faults, sizeof(faults),
             "{\"replicationDelayMs\":1500,"
             "\"replicationServicePrincipalError\":\"%s\",\"rules\":[]}",
             errors[_i]);
    admin_do("PUT", "/faults", faults);
    strcpy(name, "azidt-");
    random_hex(name + 6, 16);
    rc = azidt_graph_app_upsert(client, name, "replication-test", NULL, 0,
                                deadline, &app, &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    rc = azidt_graph_sp_create(client, app.app_id, NULL, 0, deadline, &sp,
                               &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert(created);
    count_calls("POST /v1.0/servicePrincipals", &on_route);
    ck_assert_int_ge(on_route, 2);
    ck_assert_int_le(on_route, 4);
    azidt_graph_sp_clear(&sp);
    azidt_graph_app_clear(&app);
    azidt_azure_client_free(client);
}
END_TEST

/* addPassword is not idempotent: after a 5xx the secret may exist, so the
 * client reports the failure instead of adding a second secret. */
START_TEST(emulator_add_password_not_repeated)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_graph_password password;
    struct azidt_graph_app app;
    char err[2048] = "", name[64];
    int64_t deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    int calls, on_route;
    bool created;
    azidt_err rc;

    reset_emulator();
    strcpy(name, "azidt-");
    random_hex(name + 6, 16);
    rc = azidt_graph_app_upsert(client, name, "password-test", NULL, 0,
                                deadline, &app, &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    admin_do("POST", "/faults",
             "{\"service\":\"graph\",\"route\":\"*addPassword\","
             "\"kind\":\"status\",\"status\":503,\"times\":1}");
    admin_do("DELETE", "/calls", NULL);
    rc = azidt_graph_app_add_password(client, app.id, "once",
                                      azidt_clock_wall_ms() + 3600000, 0,
                                      deadline, &password, err, sizeof(err));
    count_calls("POST /v1.0/applications/{id}/addPassword", &on_route);
    calls = on_route;
    ck_assert_int_eq(rc, AZIDT_ERR_UNAVAILABLE);
    ck_assert_int_eq(calls, 1);
    ck_assert_ptr_null(password.secret_text);
    azidt_graph_app_clear(&app);
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_latency_past_deadline)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_graph_app app;
    char err[2048] = "";
    int64_t started, elapsed;
    azidt_err rc;

    reset_emulator();
    admin_do("POST", "/faults",
             "{\"service\":\"graph\",\"kind\":\"latency\","
             "\"latencyMs\":5000}");
    started = azidt_clock_now_ms();
    rc = azidt_graph_app_get(client, AZIDT_GRAPH_KEY_UNIQUE_NAME,
                             "azidt-nonexistent", 0, started + 1500, &app, err,
                             sizeof(err));
    elapsed = azidt_clock_now_ms() - started;
    printf("latency past the deadline: %s after %lld ms: %s\n",
           azidt_err_name(rc), (long long)elapsed, err);
    fflush(stdout);
    ck_assert_int_eq(rc, AZIDT_ERR_TIMEOUT);
    ck_assert_int_le(elapsed, 1500 + DEADLINE_MARGIN_MS);
    ck_assert_ptr_nonnull(strstr(err, "retrying later may help"));
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_retry_after_past_deadline)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_graph_app app;
    char err[2048] = "";
    int64_t started, elapsed;
    int calls, on_route;
    azidt_err rc;

    reset_emulator();
    admin_do("POST", "/faults",
             "{\"service\":\"graph\",\"kind\":\"status\",\"status\":429,"
             "\"retryAfter\":30}");
    started = azidt_clock_now_ms();
    rc = azidt_graph_app_get(client, AZIDT_GRAPH_KEY_UNIQUE_NAME,
                             "azidt-nonexistent", 0, started + 5000, &app, err,
                             sizeof(err));
    elapsed = azidt_clock_now_ms() - started;
    calls = count_calls("GET /v1.0/applications(uniqueName='{uniqueName}')",
                        &on_route);
    printf("Retry-After past the deadline: %s after %lld ms, %d graph "
           "calls: %s\n",
           azidt_err_name(rc), (long long)elapsed, on_route, err);
    fflush(stdout);
    ck_assert_int_eq(rc, AZIDT_ERR_THROTTLED);
    ck_assert_int_lt(elapsed, 2000);
    ck_assert_int_eq(on_route, 1);
    ck_assert_int_ge(calls, 1);
    ck_assert_ptr_nonnull(strstr(err, "later than the deadline"));
    azidt_azure_client_free(client);
}
END_TEST

struct race {
    struct azidt_azure_client *client;
    int64_t deadline_ms;
    azidt_err rc;
};

static void *get_missing_app(void *arg)
{
    struct race *race = arg;
    struct azidt_graph_app app;
    char err[1024];

    race->rc = azidt_graph_app_get(race->client, AZIDT_GRAPH_KEY_UNIQUE_NAME,
                                   "azidt-nobody", 0, race->deadline_ms, &app,
                                   err, sizeof(err));
    azidt_graph_app_clear(&app);
    return NULL;
}

/* Many workers start with an empty token cache: one token request. */
START_TEST(emulator_token_single_flight)
{
    struct azidt_azure_client *client = new_client();
    struct race races[8];
    pthread_t threads[8];
    int calls, token_calls;

    reset_emulator();
    admin_do("POST", "/faults",
             "{\"service\":\"token\",\"kind\":\"latency\",\"latencyMs\":300}");
    for (int i = 0; i < 8; i++) {
        races[i] = (struct race){client, azidt_deadline_in(10000), AZIDT_OK};
        ck_assert_int_eq(
            pthread_create(&threads[i], NULL, get_missing_app, &races[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(races[i].rc, AZIDT_ERR_NOT_FOUND);
    }
    calls = count_calls(TOKEN_ROUTE, &token_calls);
    ck_assert_int_eq(token_calls, 1);
    ck_assert_int_eq(calls, 9);
    azidt_azure_client_free(client);
}
END_TEST

struct worker {
    struct azidt_azure_client *client;
    struct identity id;
    azidt_err rc;
    char err[2048];
};

static void *provision_and_teardown(void *arg)
{
    struct worker *w = arg;

    new_identity(&w->id);
    w->rc = provision(w->client, &w->id, azidt_deadline_in(PROVISION_BUDGET_MS),
                      w->err, sizeof(w->err));
    if (w->rc == AZIDT_OK)
        w->rc =
            teardown(w->client, &w->id, azidt_deadline_in(PROVISION_BUDGET_MS),
                     w->err, sizeof(w->err));
    return NULL;
}

/* Admission workers share one client: parallel creates and deletes all
 * succeed and leave nothing behind. */
START_TEST(emulator_parallel_workers)
{
    struct azidt_azure_client *client = new_client();
    struct worker workers[6];
    pthread_t threads[6];
    int token_calls;

    reset_emulator();
    for (int i = 0; i < 6; i++) {
        memset(&workers[i], 0, sizeof(workers[i]));
        workers[i].client = client;
        ck_assert_int_eq(pthread_create(&threads[i], NULL,
                                        provision_and_teardown, &workers[i]),
                         0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(workers[i].rc == AZIDT_OK, "worker %d: %s", i,
                      workers[i].err);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(count_in_state("applications", "uniqueName",
                                        workers[i].id.unique_name),
                         0);
        ck_assert_int_eq(count_in_state("roleAssignments", "principalId",
                                        workers[i].id.sp.id),
                         0);
        identity_clear(&workers[i].id);
    }
    count_calls(TOKEN_ROUTE, &token_calls);
    ck_assert_int_eq(token_calls, 2);
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_list_by_tag)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_graph_app app;
    char err[2048] = "", tag[64], name[64];
    const char *tags[1] = {tag};
    int64_t deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    cJSON *apps = NULL;
    bool created;
    azidt_err rc;

    reset_emulator();
    strcpy(tag, "test:list-");
    random_hex(tag + strlen(tag), 4);
    for (int i = 0; i < 3; i++) {
        strcpy(name, "azidt-");
        random_hex(name + 6, 16);
        rc = azidt_graph_app_upsert(client, name, "list-test", tags, 1,
                                    deadline, &app, &created, err, sizeof(err));
        ck_assert_msg(rc == AZIDT_OK, "%s", err);
        azidt_graph_app_clear(&app);
    }
    rc = azidt_graph_app_list_by_tag(client, tag, deadline, &apps, err,
                                     sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert_int_eq(cJSON_GetArraySize(apps), 3);
    cJSON_Delete(apps);

    rc = azidt_graph_app_list_by_tag(client, "test:o'neil", deadline, &apps,
                                     err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert_int_eq(cJSON_GetArraySize(apps), 0);
    cJSON_Delete(apps);
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_missing_resource_group)
{
    struct azidt_azure_client *client = new_client();
    char err[2048] = "";
    azidt_err rc;

    reset_emulator();
    rc = azidt_arm_resource_group_get(client, "no-such-group",
                                      azidt_deadline_in(10000), NULL, err,
                                      sizeof(err));
    ck_assert_int_eq(rc, AZIDT_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, "'no-such-group'"));
    ck_assert_ptr_nonnull(strstr(err, "ResourceGroupNotFound"));
    azidt_azure_client_free(client);
}
END_TEST

/* Roles outside the built-in table are looked up by name. */
START_TEST(emulator_role_lookup_by_name)
{
    struct azidt_azure_client *client = new_client();
    char err[2048] = "", id[1024];
    int64_t deadline = azidt_deadline_in(10000);
    int on_route;
    azidt_err rc;

    reset_emulator();
    rc = azidt_arm_role_definition_id(client, "Reader", deadline, id,
                                      sizeof(id), err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    count_calls("GET {scope}/providers/Microsoft.Authorization/"
                "roleDefinitions",
                &on_route);
    ck_assert_int_eq(on_route, 0);

    rc = azidt_arm_role_definition_id(client, "User Access Administrator",
                                      deadline, id, sizeof(id), err,
                                      sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert_str_eq(azidt_arm_role_guid(id),
                     "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9");
    ck_assert_ptr_nonnull(strstr(id, "/subscriptions/"));
    count_calls("GET {scope}/providers/Microsoft.Authorization/"
                "roleDefinitions",
                &on_route);
    ck_assert_int_eq(on_route, 1);

    rc = azidt_arm_role_definition_id(client, "No Such Role", deadline, id,
                                      sizeof(id), err, sizeof(err));
    ck_assert_int_eq(rc, AZIDT_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, "'No Such Role'"));
    azidt_azure_client_free(client);
}
END_TEST

/* Deleting what is already gone succeeds, as does removing an unknown
 * client secret. */
START_TEST(emulator_absent_counts_as_deleted)
{
    struct azidt_azure_client *client = new_client();
    struct azidt_graph_app app;
    char err[2048] = "", name[64], scope[512], ra_id[1024];
    int64_t deadline = azidt_deadline_in(PROVISION_BUDGET_MS);
    bool created;
    azidt_err rc;

    reset_emulator();
    strcpy(name, "azidt-");
    random_hex(name + 6, 16);
    rc = azidt_graph_app_upsert(client, name, "absent-test", NULL, 0, deadline,
                                &app, &created, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    rc = azidt_graph_app_remove_password(client, app.id,
                                         "8a1f7c2e-0000-4000-8000-000000000000",
                                         deadline, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "remove unknown secret: %s", err);

    rc = azidt_graph_app_delete(client, app.id, true, deadline, err,
                                sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    rc = azidt_graph_app_delete(client, app.id, true, deadline, err,
                                sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "second delete: %s", err);
    rc = azidt_graph_sp_delete(client, "8a1f7c2e-0000-4000-8000-000000000001",
                               deadline, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);

    scope_of_group(client, scope, sizeof(scope));
    snprintf(ra_id, sizeof(ra_id),
             "%s/providers/Microsoft.Authorization/roleAssignments/"
             "8a1f7c2e-0000-4000-8000-000000000002",
             scope);
    rc = azidt_arm_role_assignment_delete(client, ra_id, deadline, err,
                                          sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    azidt_graph_app_clear(&app);
    azidt_azure_client_free(client);
}
END_TEST

START_TEST(emulator_wrong_secret_rejected)
{
    struct azidt_azure_client *client = new_client();
    char err[2048] = "";
    azidt_err rc;

    reset_emulator();
    rc = azidt_azure_auth_check_secret(
        azidt_azure_client_http(client), azidt_azure_client_config(client),
        azidt_azure_client_config(client)->client_id, "not-the-secret",
        "https://graph.microsoft.com/.default", azidt_deadline_in(5000), err,
        sizeof(err));
    ck_assert_int_eq(rc, AZIDT_ERR_UNAUTHORIZED);
    ck_assert_ptr_nonnull(strstr(err, "invalid_client"));
    ck_assert_ptr_null(strstr(err, "not-the-secret"));
    azidt_azure_client_free(client);
}
END_TEST

/* A 401 from ARM drops the cached token, and one new token and one more
 * attempt follow. */
START_TEST(emulator_rejected_token_renewed)
{
    struct azidt_azure_client *client = new_client();
    char err[2048] = "";
    int64_t deadline = azidt_deadline_in(10000);
    int token_calls;
    azidt_err rc;

    reset_emulator();
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP, deadline, NULL,
                                      err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    admin_do("POST", "/faults",
             "{\"service\":\"arm\",\"kind\":\"status\",\"status\":401,"
             "\"times\":1}");
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP, deadline, NULL,
                                      err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    count_calls(TOKEN_ROUTE, &token_calls);
    ck_assert_int_eq(token_calls, 2);

    /* A service that keeps rejecting tokens fails after one renewal. */
    admin_do("POST", "/faults",
             "{\"service\":\"arm\",\"kind\":\"status\",\"status\":401}");
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP, deadline, NULL,
                                      err, sizeof(err));
    ck_assert_int_eq(rc, AZIDT_ERR_UNAUTHORIZED);
    count_calls(TOKEN_ROUTE, &token_calls);
    ck_assert_int_eq(token_calls, 3);
    azidt_azure_client_free(client);
}
END_TEST

/* ---- workload identity federation ---- */

/* The federated credential of the caller in the emulator's default
 * configuration. */
#define FIC_ISSUER "https://kubernetes.default.svc.cluster.local"
#define FIC_SUBJECT                                                            \
    "system:serviceaccount:azidt-system:azure-identity-terminator"
#define FIC_AUDIENCE "api://AzureADTokenExchange"

static char *b64url(const unsigned char *data, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                   "opqrstuvwxyz0123456789-_";
    char *out = malloc(len * 4 / 3 + 4);
    size_t n = 0;

    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;

        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        if (i + 1 < len)
            out[n++] = alphabet[(v >> 6) & 63];
        if (i + 2 < len)
            out[n++] = alphabet[v & 63];
    }
    out[n] = '\0';
    return out;
}

static char *b64url_text(const char *text)
{
    return b64url((const unsigned char *)text, strlen(text));
}

static char *bn_param_b64url(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int len;
    char *out;

    ck_assert_int_eq(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    len = BN_bn2bin(bn, buf);
    out = b64url(buf, (size_t)len);
    BN_free(bn);
    return out;
}

/* Register key's public half as the JWKS of FIC_ISSUER. */
static void register_issuer(EVP_PKEY *key)
{
    char *n = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_N);
    char *e = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_E);
    char body[2048];

    snprintf(body, sizeof(body),
             "{\"issuer\":\"" FIC_ISSUER "\",\"jwks\":{\"keys\":[{\"kty\":"
             "\"RSA\",\"kid\":\"test-key\",\"use\":\"sig\",\"alg\":\"RS256\","
             "\"n\":\"%s\",\"e\":\"%s\"}]}}",
             n, e);
    admin_do("PUT", "/issuers", body);
    free(n);
    free(e);
}

/* Write a service account token signed by key into path, as the kubelet
 * projects it. */
static void write_sa_token(EVP_PKEY *key, const char *path)
{
    long now = (long)(azidt_clock_wall_ms() / 1000);
    char claims[1024], signing_input[4096];
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    char *header = b64url_text("{\"alg\":\"RS256\",\"kid\":\"test-key\","
                               "\"typ\":\"JWT\"}");
    char *payload, *signature;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *fp;

    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" FIC_ISSUER "\",\"sub\":\"" FIC_SUBJECT
             "\",\"aud\":[\"" FIC_AUDIENCE "\"],\"iat\":%ld,\"nbf\":%ld,"
             "\"exp\":%ld}",
             now, now - 5, now + 3600);
    payload = b64url_text(claims);
    snprintf(signing_input, sizeof(signing_input), "%s.%s", header, payload);
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, &sig_len,
                                    (const unsigned char *)signing_input,
                                    strlen(signing_input)),
                     1);
    signature = b64url(sig, sig_len);
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "%s.%s\n", signing_input, signature);
    fclose(fp);
    EVP_MD_CTX_free(ctx);
    free(header);
    free(payload);
    free(signature);
}

static const char *token_file_path;

/* The environment, with AZURE_FEDERATED_TOKEN_FILE in place of the client
 * secret. */
static const char *federated_lookup(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "AZURE_CLIENT_SECRET") == 0)
        return NULL;
    if (strcmp(name, "AZURE_FEDERATED_TOKEN_FILE") == 0)
        return token_file_path;
    return getenv(name);
}

/* The client signs in with a projected service account token and reads
 * the file again on every token request, so a rotated token is used. */
START_TEST(emulator_federated_token_file)
{
    char path[] = "/tmp/azidt-sa-token-XXXXXX";
    struct azidt_azure_config *cfg = NULL;
    struct azidt_azure_client *client = NULL;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char err[2048] = "";
    int fd = mkstemp(path);
    azidt_err rc;

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ptr_nonnull(key);
    reset_emulator();
    register_issuer(key);

    /* A token the issuer did not sign is rejected. */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "not.a.jwt\n", 10), 10);
    close(fd);
    token_file_path = path;
    rc =
        azidt_azure_config_load(federated_lookup, NULL, &cfg, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    ck_assert_ptr_null(cfg->client_secret);
    rc = azidt_azure_client_new(cfg, &client, err, sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP,
                                      azidt_deadline_in(10000), NULL, err,
                                      sizeof(err));
    ck_assert_int_ne(rc, AZIDT_OK);

    /* The kubelet rotates the file; the next request uses the new one. */
    write_sa_token(key, path);
    rc = azidt_arm_resource_group_get(client, RESOURCE_GROUP,
                                      azidt_deadline_in(10000), NULL, err,
                                      sizeof(err));
    ck_assert_msg(rc == AZIDT_OK, "%s", err);

    azidt_azure_client_free(client);
    EVP_PKEY_free(key);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("azure_emulator");
    TCase *tc = tcase_create("azure_emulator");
    SRunner *runner;
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, emulator_create_and_teardown);
    tcase_add_test(tc, emulator_rerun_is_idempotent);
    tcase_add_test(tc, emulator_adopts_existing_assignment);
    tcase_add_test(tc, emulator_create_call_count);
    tcase_add_test(tc, emulator_throttled_and_replicating);
    tcase_add_loop_test(tc, emulator_sp_replication_errors, 0, 2);
    tcase_add_test(tc, emulator_add_password_not_repeated);
    tcase_add_test(tc, emulator_latency_past_deadline);
    tcase_add_test(tc, emulator_retry_after_past_deadline);
    tcase_add_test(tc, emulator_token_single_flight);
    tcase_add_test(tc, emulator_parallel_workers);
    tcase_add_test(tc, emulator_list_by_tag);
    tcase_add_test(tc, emulator_missing_resource_group);
    tcase_add_test(tc, emulator_role_lookup_by_name);
    tcase_add_test(tc, emulator_absent_counts_as_deleted);
    tcase_add_test(tc, emulator_wrong_secret_rejected);
    tcase_add_test(tc, emulator_rejected_token_renewed);
    tcase_add_test(tc, emulator_federated_token_file);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
