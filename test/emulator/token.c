/*
 * The Entra token endpoint (client credentials grant, with a client secret
 * or a federated client assertion) and the bearer-token check that Graph
 * and ARM run on every request.
 */
#include "emulator.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define PUBLIC_GRAPH "https://graph.microsoft.com"
#define PUBLIC_ARM "https://management.azure.com/"
#define PUBLIC_ARM_CLASSIC "https://management.core.windows.net/"

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

void emu_token_error(struct emu_request *req, int status, const char *error,
                     int aadsts, const char *text)
{
    char stamp[32], iso[32], code_text[16];
    time_t secs = (time_t)(emu_now_ms() / 1000);
    struct tm tm;
    cJSON *body = cJSON_CreateObject();
    char *desc, *uri;

    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", &tm);
    emu_iso8601(emu_now_ms(), iso);
    desc = emu_printf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: "
                      "%s\r\nTimestamp: %s",
                      aadsts, text, req->request_id, req->client_request_id,
                      stamp);
    uri = emu_printf("https://login.microsoftonline.com/error?code=%d", aadsts);
    snprintf(code_text, sizeof(code_text), "%d", aadsts);
    cJSON_AddStringToObject(body, "error", error);
    cJSON_AddStringToObject(body, "error_description", desc);
    cJSON_AddItemToObject(body, "error_codes",
                          cJSON_CreateIntArray(&aadsts, 1));
    cJSON_AddStringToObject(body, "timestamp", stamp);
    cJSON_AddStringToObject(body, "trace_id", req->request_id);
    cJSON_AddStringToObject(body, "correlation_id", req->client_request_id);
    cJSON_AddStringToObject(body, "error_uri", uri);
    free(desc);
    free(uri);
    emu_reply_json(req, status, body);
}

/* Path after the tenant segment: "/{tenant}/<rest>". */
static const char *tenant_rest(const char *path, char *tenant, size_t size)
{
    const char *slash;

    if (path[0] != '/')
        return NULL;
    slash = strchr(path + 1, '/');
    if (!slash || (size_t)(slash - path - 1) >= size)
        return NULL;
    snprintf(tenant, size, "%.*s", (int)(slash - path - 1), path + 1);
    return slash;
}

bool emu_token_route(struct emu_request *req)
{
    char tenant[128];
    const char *rest = tenant_rest(req->path, tenant, sizeof(tenant));
    const char *tmpl = NULL;

    if (rest && strcmp(rest, "/oauth2/v2.0/token") == 0)
        tmpl = "/{tenant}/oauth2/v2.0/token";
    else if (rest && strcmp(rest, "/discovery/v2.0/keys") == 0)
        tmpl = "/{tenant}/discovery/v2.0/keys";
    snprintf(req->route, sizeof(req->route), "%s %s", req->method,
             tmpl ? tmpl : req->path);
    return tmpl != NULL;
}

static bool tenant_known(const char *tenant)
{
    const cJSON *domain;

    if (emu_strcaseeq(tenant, emu.tenant))
        return true;
    cJSON_ArrayForEach(domain, cJSON_GetObjectItem(emu.config, "tenantDomains"))
    {
        if (emu_strcaseeq(cJSON_GetStringValue(domain), tenant))
            return true;
    }
    return false;
}

/* Map a scope to the token audience, or NULL for an unknown resource. */
static char *scope_audience(const char *resource)
{
    size_t len = strlen(resource);
    char *trimmed =
        strndup(resource, len > 0 && resource[len - 1] == '/' ? len - 1 : len);
    char *aud = NULL;

    if (emu_strcaseeq(trimmed, emu.urls[EMU_GRAPH]) ||
        emu_strcaseeq(trimmed, PUBLIC_GRAPH))
        aud = emu_strdup(trimmed);
    else if (emu_strcaseeq(trimmed, emu.urls[EMU_ARM]) ||
             emu_strcaseeq(trimmed, "https://management.azure.com") ||
             emu_strcaseeq(trimmed, "https://management.core.windows.net"))
        aud = emu_printf("%s/", trimmed);
    free(trimmed);
    return aud;
}

static void reply_token(struct emu_request *req, const struct emu_app *app,
                        const struct emu_sp *sp, const char *aud,
                        bool assertion)
{
    const cJSON *life = cJSON_GetObjectItem(emu.config, "tokenLifetimeSeconds");
    int lifetime = cJSON_IsNumber(life) ? life->valueint : 3599;
    int64_t now = emu_now_ms() / 1000;
    const char *app_id = json_str(app->obj, "appId");
    const char *oid = json_str(sp->obj, "id");
    char *iss = emu_printf("https://sts.windows.net/%s/", emu.tenant);
    char uti[37];
    cJSON *claims = cJSON_CreateObject(), *body;
    char *jwt;

    emu_uuid4(uti);
    cJSON_AddStringToObject(claims, "aud", aud);
    cJSON_AddStringToObject(claims, "iss", iss);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "nbf", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + lifetime));
    cJSON_AddStringToObject(claims, "appid", app_id);
    cJSON_AddStringToObject(claims, "appidacr", assertion ? "2" : "1");
    cJSON_AddStringToObject(claims, "azp", app_id);
    cJSON_AddStringToObject(claims, "azpacr", assertion ? "2" : "1");
    cJSON_AddStringToObject(claims, "idp", iss);
    cJSON_AddStringToObject(claims, "idtyp", "app");
    cJSON_AddStringToObject(claims, "oid", oid);
    if (strcmp(aud, emu.urls[EMU_GRAPH]) == 0 ||
        strcmp(aud, PUBLIC_GRAPH) == 0) {
        if (cJSON_GetArraySize(app->graph_roles) > 0)
            cJSON_AddItemToObject(claims, "roles",
                                  cJSON_Duplicate(app->graph_roles, true));
    }
    cJSON_AddStringToObject(claims, "sub", oid);
    cJSON_AddStringToObject(claims, "tid", emu.tenant);
    cJSON_AddStringToObject(claims, "uti", uti);
    cJSON_AddStringToObject(claims, "ver", "1.0");
    jwt = emu_jwt_sign(emu.signing_key, emu.signing_kid, claims);
    cJSON_Delete(claims);
    free(iss);
    if (!jwt) {
        emu_token_error(req, 500, "server_error", 50000,
                        "There was an error issuing a token.");
        return;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "token_type", "Bearer");
    cJSON_AddNumberToObject(body, "expires_in", lifetime);
    cJSON_AddNumberToObject(body, "ext_expires_in", lifetime);
    cJSON_AddStringToObject(body, "access_token", jwt);
    OPENSSL_cleanse(jwt, strlen(jwt));
    free(jwt);
    emu_reply_json(req, 200, body);
}

/* Outcome of checking a secret against one list of stored hashes. */
enum secret_match { SECRET_NONE, SECRET_EXPIRED, SECRET_OK };

static enum secret_match match_secret(const cJSON *secrets, const char *hash)
{
    enum secret_match best = SECRET_NONE;
    int64_t now = emu_now_ms();
    const cJSON *s;

    cJSON_ArrayForEach(s, secrets)
    {
        const char *stored = json_str(s, "hash");
        int64_t start = (int64_t)cJSON_GetObjectItem(s, "startMs")->valuedouble;
        int64_t end = (int64_t)cJSON_GetObjectItem(s, "endMs")->valuedouble;
        int64_t created =
            (int64_t)cJSON_GetObjectItem(s, "createdMs")->valuedouble;

        if (!stored || CRYPTO_memcmp(stored, hash, 64) != 0)
            continue;
        /* A new secret is refused while it replicates, as Entra does for
         * a short while after addPassword. */
        if (emu_replicating(created) || now < start)
            continue;
        if (now >= end) {
            best = SECRET_EXPIRED;
            continue;
        }
        return SECRET_OK;
    }
    return best;
}

static bool check_secret(struct emu_request *req, const struct emu_app *app,
                         const struct emu_sp *sp, const char *secret)
{
    const char *app_id = json_str(app->obj, "appId");
    enum secret_match m;
    char hash[65], *text;

    emu_sha256_hex(secret, hash);
    m = match_secret(app->secrets, hash);
    if (m != SECRET_OK && sp) {
        enum secret_match sp_m = match_secret(sp->secrets, hash);

        if (sp_m > m)
            m = sp_m;
    }
    if (m == SECRET_OK)
        return true;
    if (m == SECRET_EXPIRED) {
        text = emu_printf("The provided client secret keys for app '%s' are "
                          "expired. Visit the Azure portal to create new "
                          "keys for your app: https://aka.ms/NewClientSecret,"
                          " or consider using certificate credentials for "
                          "added security: https://aka.ms/certCreds.",
                          app_id);
        emu_token_error(req, 401, "invalid_client", 7000222, text);
    } else {
        text = emu_printf("Invalid client secret provided. Ensure the secret "
                          "being sent in the request is the client secret "
                          "value, not the client secret ID, for a secret "
                          "added to app '%s'.",
                          app_id);
        emu_token_error(req, 401, "invalid_client", 7000215, text);
    }
    free(text);
    return false;
}

static const cJSON *find_jwk(const cJSON *jwks, const char *kid)
{
    const cJSON *key;

    cJSON_ArrayForEach(key, cJSON_GetObjectItem(jwks, "keys"))
    {
        if (!kid || emu_strcaseeq(json_str(key, "kid"), kid))
            return key;
    }
    return NULL;
}

static bool aud_contains(const cJSON *aud, const char *value)
{
    const cJSON *item;

    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, value) == 0;
    cJSON_ArrayForEach(item, aud)
    {
        if (cJSON_IsString(item) && strcmp(item->valuestring, value) == 0)
            return true;
    }
    return false;
}

static void assertion_no_match(struct emu_request *req, int code,
                               const char *what, const char *value)
{
    char *text = emu_printf(
        "No matching federated identity record found for presented "
        "assertion %s '%s'. Please check your federated identity credential "
        "Subject, Audience and Issuer against the presented assertion. "
        "https://learn.microsoft.com/entra/workload-id/"
        "workload-identity-federation",
        what, value);

    emu_token_error(req, 401, "invalid_client", code, text);
    free(text);
}

/* Find the federated credential for iss/sub/aud; sets the error response and
 * returns NULL when none matches. Issuer and subject compare exactly. */
static const cJSON *match_fic(struct emu_request *req,
                              const struct emu_app *app, const char *iss,
                              const char *sub, const cJSON *aud)
{
    const cJSON *fic, *issuer_match = NULL, *subject_match = NULL;

    cJSON_ArrayForEach(fic, app->fics)
    {
        if (!iss || strcmp(json_str(fic, "issuer"), iss) != 0)
            continue;
        issuer_match = fic;
        if (!sub || strcmp(json_str(fic, "subject"), sub) != 0)
            continue;
        subject_match = fic;
        if (aud_contains(aud, cJSON_GetStringValue(cJSON_GetArrayItem(
                                  cJSON_GetObjectItem(fic, "audiences"), 0))))
            return fic;
    }
    if (!issuer_match)
        assertion_no_match(req, 700211, "issuer", iss ? iss : "");
    else if (!subject_match)
        assertion_no_match(req, 700213, "subject", sub ? sub : "");
    else
        assertion_no_match(req, 700212, "audience",
                           cJSON_IsString(aud) ? aud->valuestring : "");
    return NULL;
}

static bool check_assertion(struct emu_request *req, const struct emu_app *app,
                            const char *type, const char *assertion)
{
    struct emu_jwt jwt;
    const cJSON *fic, *jwks, *jwk, *exp, *nbf, *created;
    const char *iss, *sub, *kid;
    int64_t now = emu_now_ms() / 1000;
    EVP_PKEY *key = NULL;
    bool ok = false;
    char *text = NULL;

    if (!type || strcmp(type, ASSERTION_TYPE) != 0) {
        emu_token_error(req, 400, "invalid_request", 700010,
                        "Invalid client_assertion_type; it must be "
                        "'" ASSERTION_TYPE "'.");
        return false;
    }
    if (!emu_jwt_parse(assertion, &jwt)) {
        emu_token_error(req, 400, "invalid_request", 50027,
                        "JWT token is invalid or malformed.");
        return false;
    }
    iss = json_str(jwt.claims, "iss");
    sub = json_str(jwt.claims, "sub");
    kid = json_str(jwt.header, "kid");
    exp = cJSON_GetObjectItem(jwt.claims, "exp");
    nbf = cJSON_GetObjectItem(jwt.claims, "nbf");
    if (!cJSON_IsNumber(exp) || now >= (int64_t)exp->valuedouble ||
        (cJSON_IsNumber(nbf) && now < (int64_t)nbf->valuedouble)) {
        char now_text[32];

        emu_iso8601(now * 1000, now_text);
        text =
            emu_printf("Client assertion is not within its valid time "
                       "range. Current time: %s, expiry time of "
                       "assertion %.0f.",
                       now_text, cJSON_IsNumber(exp) ? exp->valuedouble : 0.0);
        emu_token_error(req, 401, "invalid_client", 700024, text);
        goto out;
    }
    fic = match_fic(req, app, iss, sub, cJSON_GetObjectItem(jwt.claims, "aud"));
    if (!fic)
        goto out;
    created = cJSON_GetObjectItem(app->fic_created, json_str(fic, "id"));
    if (created && emu_replicating((int64_t)created->valuedouble)) {
        text = emu_printf("No matching federated identity record found for "
                          "presented assertion. Assertion Issuer: '%s'. "
                          "Assertion Subject: '%s'.",
                          iss, sub);
        emu_token_error(req, 400, "invalid_request", 70021, text);
        goto out;
    }
    jwks = cJSON_GetObjectItem(emu.issuers, iss);
    if (!jwks) {
        text = emu_printf("Request to External OIDC endpoint failed. The "
                          "OpenID configuration of issuer '%s' could not be "
                          "retrieved.",
                          iss);
        emu_token_error(req, 400, "invalid_request", 50166, text);
        goto out;
    }
    jwk = find_jwk(jwks, kid);
    key = jwk ? emu_pkey_from_jwk(jwk) : NULL;
    if (!key) {
        text = emu_printf("The key used to sign the client assertion (kid "
                          "'%s') was not found in the signing keys of "
                          "issuer '%s'.",
                          kid ? kid : "", iss);
        emu_token_error(req, 401, "invalid_client", 7000272, text);
        goto out;
    }
    if (!emu_jwt_verify(&jwt, key)) {
        emu_token_error(req, 401, "invalid_client", 700027,
                        "Client assertion failed signature validation.");
        goto out;
    }
    ok = true;
out:
    free(text);
    EVP_PKEY_free(key);
    emu_jwt_free(&jwt);
    return ok;
}

/* Read client_id and client_secret from HTTP Basic credentials. */
static void basic_credentials(struct emu_request *req, char **id, char **secret)
{
    const char *auth = emu_header(req, "Authorization");
    char *user = NULL, *pass = NULL;

    if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
        return;
    /* RFC 6749 section 2.3.1: both parts are form-urlencoded before
     * they are joined and base64-encoded. */
    user = MHD_basic_auth_get_username_password(req->conn, &pass);
    if (user && !*id)
        *id = emu_url_decode(user, strlen(user));
    if (pass && !*secret)
        *secret = emu_url_decode(pass, strlen(pass));
    MHD_free(user);
    if (pass) {
        OPENSSL_cleanse(pass, strlen(pass));
        MHD_free(pass);
    }
}

static void missing_param(struct emu_request *req, const char *name)
{
    char *text = emu_printf("The request body must contain the following "
                            "parameter: '%s'.",
                            name);

    emu_token_error(req, 400, "invalid_request", 900144, text);
    free(text);
}

/* Resolve scope to an audience; sets the error response and returns NULL on
 * error. */
static char *resolve_scope(struct emu_request *req, const char *scope)
{
    size_t len = strlen(scope);
    const char *suffix = "/.default";
    char *resource, *aud, *text;

    if (strchr(scope, ' ')) {
        text = emu_printf("The provided value for the input parameter "
                          "'scope' is not valid. The scope %s is not valid. "
                          "A scope may name only one resource.",
                          scope);
        emu_token_error(req, 400, "invalid_scope", 70011, text);
        free(text);
        return NULL;
    }
    if (len <= strlen(suffix) ||
        strcmp(scope + len - strlen(suffix), suffix) != 0) {
        text = emu_printf("The provided value for scope %s is not valid. "
                          "Client credential flows must have a scope value "
                          "with /.default suffixed to the resource "
                          "identifier (application ID URI).",
                          scope);
        emu_token_error(req, 400, "invalid_scope", 1002012, text);
        free(text);
        return NULL;
    }
    resource = strndup(scope, len - strlen(suffix));
    aud = scope_audience(resource);
    if (!aud) {
        text = emu_printf("The resource principal named %s was not found in "
                          "the tenant named %s. This can happen if the "
                          "application has not been installed by the "
                          "administrator of the tenant or consented to by "
                          "any user in the tenant.",
                          resource, emu.tenant);
        emu_token_error(req, 400, "invalid_resource", 500011, text);
        free(text);
    }
    free(resource);
    return aud;
}

static void handle_token(struct emu_request *req, const char *tenant)
{
    char *grant = emu_form_value(req->body, "grant_type");
    char *client_id = emu_form_value(req->body, "client_id");
    char *secret = emu_form_value(req->body, "client_secret");
    char *scope = emu_form_value(req->body, "scope");
    char *assertion = emu_form_value(req->body, "client_assertion");
    char *assertion_type = emu_form_value(req->body, "client_assertion_type");
    char *aud = NULL, *text = NULL;
    struct emu_app *app;
    struct emu_sp *sp;

    basic_credentials(req, &client_id, &secret);
    if (!tenant_known(tenant)) {
        text = emu_printf("Tenant '%s' not found. Check to make sure you "
                          "have the correct tenant ID and are signing into "
                          "the correct cloud.",
                          tenant);
        emu_token_error(req, 400, "invalid_request", 90002, text);
        goto out;
    }
    if (!grant) {
        missing_param(req, "grant_type");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        text = emu_printf("The app requested an unsupported grant type "
                          "'%s'.",
                          grant);
        emu_token_error(req, 400, "unsupported_grant_type", 70003, text);
        goto out;
    }
    if (!client_id) {
        missing_param(req, "client_id");
        goto out;
    }
    if (!scope) {
        missing_param(req, "scope");
        goto out;
    }
    aud = resolve_scope(req, scope);
    if (!aud)
        goto out;
    if (!secret && !assertion) {
        emu_token_error(req, 401, "invalid_client", 7000218,
                        "The request body must contain the following "
                        "parameter: 'client_assertion' or 'client_secret'.");
        goto out;
    }
    app = emu_app_find("appId", client_id, false);
    if (!app || emu_replicating(app->created_ms)) {
        text = emu_printf("Application with identifier '%s' was not found in "
                          "the directory '%s'. This can happen if the "
                          "application has not been installed by the "
                          "administrator of the tenant or consented to by "
                          "any user in the tenant. You may have sent your "
                          "authentication request to the wrong tenant.",
                          client_id, emu.tenant);
        emu_token_error(req, 400, "unauthorized_client", 700016, text);
        goto out;
    }
    sp = emu_sp_find_app(client_id, false);
    if (secret ? !check_secret(req, app, sp, secret)
               : !check_assertion(req, app, assertion_type, assertion))
        goto out;
    if (!sp) {
        text = emu_printf("The client application %s is missing service "
                          "principal in the tenant %s.",
                          client_id, emu.tenant);
        emu_token_error(req, 401, "invalid_client", 7000229, text);
        goto out;
    }
    if (cJSON_IsFalse(cJSON_GetObjectItem(sp->obj, "accountEnabled"))) {
        text = emu_printf("Application '%s'(%s) is disabled.", client_id,
                          json_str(app->obj, "displayName"));
        emu_token_error(req, 400, "unauthorized_client", 7000112, text);
        goto out;
    }
    reply_token(req, app, sp, aud, secret == NULL);
out:
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    if (assertion)
        OPENSSL_cleanse(assertion, strlen(assertion));
    free(grant);
    free(client_id);
    free(secret);
    free(scope);
    free(assertion);
    free(assertion_type);
    free(aud);
    free(text);
}

void emu_token_handle(struct emu_request *req)
{
    char tenant[128];
    const char *rest = tenant_rest(req->path, tenant, sizeof(tenant));

    req->content_type = "application/json; charset=utf-8";
    if (rest && strcmp(rest, "/discovery/v2.0/keys") == 0 &&
        strcmp(req->method, "GET") == 0) {
        cJSON *jwks = cJSON_CreateObject();
        cJSON *keys = cJSON_AddArrayToObject(jwks, "keys");

        cJSON_AddItemToArray(
            keys, emu_jwk_from_pkey(emu.signing_key, emu.signing_kid));
        emu_reply_json(req, 200, jwks);
        return;
    }
    if (!rest || strcmp(rest, "/oauth2/v2.0/token") != 0) {
        emu_token_error(req, 404, "invalid_request", 90100,
                        "Invalid request: the path is not a token endpoint.");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        emu_token_error(req, 405, "invalid_request", 900561,
                        "The endpoint only accepts POST requests.");
        return;
    }
    handle_token(req, tenant);
}

/* ---- bearer tokens on Graph and ARM ---- */

static void auth_fail(struct emu_request *req, enum emu_service service,
                      const char *arm_code, const char *arm_message,
                      const char *graph_message)
{
    if (service == EMU_GRAPH) {
        emu_add_header(req, "WWW-Authenticate",
                       "Bearer realm=\"\", authorization_uri=\"https://"
                       "login.microsoftonline.com/common/oauth2/authorize\", "
                       "client_id=\"00000003-0000-0000-c000-000000000000\"");
        emu_graph_error(req, 401, "InvalidAuthenticationToken", graph_message);
    } else {
        emu_add_header(req, "WWW-Authenticate",
                       "Bearer authorization_uri=\"https://"
                       "login.windows.net/\", error=\"invalid_token\", "
                       "error_description=\"The authentication failed "
                       "because of missing 'Authorization' header.\"");
        emu_arm_error(req, 401, arm_code, arm_message);
    }
}

static bool audience_ok(enum emu_service service, const char *aud)
{
    char *with_slash;
    bool ok;

    if (!aud)
        return false;
    if (service == EMU_GRAPH)
        return strcmp(aud, emu.urls[EMU_GRAPH]) == 0 ||
               strcmp(aud, PUBLIC_GRAPH) == 0 ||
               strcmp(aud, PUBLIC_GRAPH "/") == 0;
    with_slash = emu_printf("%s/", emu.urls[EMU_ARM]);
    ok = strcmp(aud, with_slash) == 0 || strcmp(aud, emu.urls[EMU_ARM]) == 0 ||
         strcmp(aud, PUBLIC_ARM) == 0 ||
         strcmp(aud, "https://management.azure.com") == 0 ||
         strcmp(aud, PUBLIC_ARM_CLASSIC) == 0 ||
         strcmp(aud, "https://management.core.windows.net") == 0;
    free(with_slash);
    return ok;
}

/* Format as ARM does in ExpiredAuthenticationToken: "12/4/2026 3:16:35
 * PM". */
static void arm_time(int64_t secs, char out[40])
{
    time_t t = (time_t)secs;
    struct tm tm;
    int hour;

    gmtime_r(&t, &tm);
    hour = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    snprintf(out, 40, "%d/%d/%d %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday,
             tm.tm_year + 1900, hour, tm.tm_min, tm.tm_sec,
             tm.tm_hour < 12 ? "AM" : "PM");
}

static void expired(struct emu_request *req, enum emu_service service,
                    int64_t exp, int64_t now)
{
    char exp_text[40], now_text[40];
    char *msg;

    arm_time(exp, exp_text);
    arm_time(now, now_text);
    msg = emu_printf("The access token expiry UTC time '%s' is earlier than "
                     "current UTC time '%s'.",
                     exp_text, now_text);
    auth_fail(req, service, "ExpiredAuthenticationToken", msg,
              "Lifetime validation failed, the token is expired.");
    free(msg);
}

cJSON *emu_authenticate(struct emu_request *req, enum emu_service service)
{
    const char *auth = emu_header(req, "Authorization");
    struct emu_jwt jwt;
    const cJSON *exp, *nbf;
    const char *aud, *tid;
    int64_t now = emu_now_ms() / 1000;
    cJSON *claims = NULL;
    char *msg;

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        auth_fail(req, service, "AuthenticationFailed",
                  "Authentication failed. The 'Authorization' header is "
                  "missing.",
                  "Access token is empty.");
        return NULL;
    }
    if (!emu_jwt_parse(auth + 7, &jwt)) {
        auth_fail(req, service, "InvalidAuthenticationToken",
                  "The access token is invalid.",
                  "CompactToken parsing failed with error code: 80049217");
        return NULL;
    }
    if (!emu_strcaseeq(
            cJSON_GetStringValue(cJSON_GetObjectItem(jwt.header, "kid")),
            emu.signing_kid) ||
        !emu_jwt_verify(&jwt, emu.signing_key)) {
        auth_fail(req, service, "InvalidAuthenticationToken",
                  "The access token is invalid.",
                  "Access token validation failure.");
        goto out;
    }
    exp = cJSON_GetObjectItem(jwt.claims, "exp");
    nbf = cJSON_GetObjectItem(jwt.claims, "nbf");
    if (!cJSON_IsNumber(exp) || now >= (int64_t)exp->valuedouble) {
        expired(req, service,
                cJSON_IsNumber(exp) ? (int64_t)exp->valuedouble : 0, now);
        goto out;
    }
    if (cJSON_IsNumber(nbf) && now < (int64_t)nbf->valuedouble) {
        auth_fail(req, service, "InvalidAuthenticationToken",
                  "The access token is not yet valid.",
                  "Lifetime validation failed, the token is not yet valid.");
        goto out;
    }
    aud = json_str(jwt.claims, "aud");
    if (!audience_ok(service, aud)) {
        msg = emu_printf("The access token has been obtained for wrong "
                         "audience or resource '%s'. It should exactly match "
                         "with one of the allowed audiences '%s/','%s',"
                         "'https://management.core.windows.net/',"
                         "'https://management.core.windows.net',"
                         "'https://management.azure.com/',"
                         "'https://management.azure.com'.",
                         aud ? aud : "", emu.urls[EMU_ARM], emu.urls[EMU_ARM]);
        auth_fail(req, service, "InvalidAuthenticationTokenAudience", msg,
                  "Access token validation failure. Invalid audience.");
        free(msg);
        goto out;
    }
    tid = json_str(jwt.claims, "tid");
    if (!emu_strcaseeq(tid, emu.tenant)) {
        msg = emu_printf("The access token is from the wrong issuer '%s'. It "
                         "must match the tenant 'https://sts.windows.net/%s/' "
                         "associated with this subscription.",
                         tid ? tid : "", emu.tenant);
        auth_fail(req, service, "InvalidAuthenticationTokenTenant", msg,
                  "Access token validation failure.");
        free(msg);
        goto out;
    }
    claims = jwt.claims;
    jwt.claims = NULL;
out:
    emu_jwt_free(&jwt);
    return claims;
}
