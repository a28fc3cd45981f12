#include "azidt/azure_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "azidt/clock.h"
#include "azidt/log.h"

/* Renew this long before expiry, or at half the lifetime if shorter. */
#define RENEW_BEFORE_MS (5 * 60 * 1000)
/* A cached token is handed out while another thread renews it only if it
 * stays valid at least this long. */
#define MIN_VALIDITY_MS (30 * 1000)
/* Largest federated token file accepted. */
#define ASSERTION_MAX_BYTES (64 * 1024)

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

struct token_entry {
    char *scope;
    char *token;        /* NULL until the first token arrives */
    int64_t expires_ms; /* monotonic */
    int64_t renew_ms;   /* monotonic */
    bool refreshing;    /* a token request for this scope is in flight */
    struct token_entry *next;
};

struct azidt_azure_auth {
    const struct azidt_azure_config *cfg;
    struct azidt_azure_http *http;
    pthread_mutex_t lock;
    pthread_cond_t refreshed;
    struct token_entry *entries;
};

void azidt_azure_secret_free(char *secret)
{
    if (!secret)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

azidt_err azidt_azure_auth_new(const struct azidt_azure_config *cfg,
                               struct azidt_azure_http *http,
                               struct azidt_azure_auth **out)
{
    struct azidt_azure_auth *auth = calloc(1, sizeof(*auth));
    pthread_condattr_t attr;

    *out = NULL;
    if (!auth)
        return AZIDT_ERR_NOMEM;
    auth->cfg = cfg;
    auth->http = http;
    pthread_mutex_init(&auth->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&auth->refreshed, &attr);
    pthread_condattr_destroy(&attr);
    *out = auth;
    return AZIDT_OK;
}

void azidt_azure_auth_free(struct azidt_azure_auth *auth)
{
    struct token_entry *e, *next;

    if (!auth)
        return;
    for (e = auth->entries; e; e = next) {
        next = e->next;
        azidt_azure_secret_free(e->token);
        free(e->scope);
        free(e);
    }
    pthread_cond_destroy(&auth->refreshed);
    pthread_mutex_destroy(&auth->lock);
    free(auth);
}

/* ---- the token request ---- */

struct form_field {
    const char *name;
    const char *value;
};

/* Build an x-www-form-urlencoded body in one allocation, so that no
 * partial copy of a secret is left in freed memory. */
static char *build_form(const struct form_field *fields, size_t count)
{
    size_t len = 0, used = 0;
    char *form;

    for (size_t i = 0; i < count; i++)
        len += strlen(fields[i].name) + 2 +
               azidt_azure_url_escape(fields[i].value, NULL, 0);
    form = malloc(len + 1);
    if (!form)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        used +=
            (size_t)sprintf(form + used, "%s%s=", i ? "&" : "", fields[i].name);
        used += azidt_azure_url_escape(fields[i].value, form + used,
                                       len + 1 - used);
    }
    form[used] = '\0';
    return form;
}

/* Read the federated token file; the caller wipes and frees the result. */
static azidt_err read_assertion(const char *path, char **out, char *err,
                                size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t len;

    *out = NULL;
    if (!fp) {
        snprintf(err, errlen,
                 "cannot read the federated token file '%.300s' named by "
                 "AZURE_FEDERATED_TOKEN_FILE: %s; check the projected service "
                 "account token volume",
                 path, strerror(errno));
        return AZIDT_ERR_CONFIG;
    }
    buf = malloc(ASSERTION_MAX_BYTES + 1);
    if (!buf) {
        fclose(fp);
        return AZIDT_ERR_NOMEM;
    }
    len = fread(buf, 1, ASSERTION_MAX_BYTES, fp);
    fclose(fp);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                       buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    if (len == 0 || len == ASSERTION_MAX_BYTES) {
        OPENSSL_cleanse(buf, ASSERTION_MAX_BYTES);
        free(buf);
        snprintf(err, errlen,
                 "the federated token file '%.300s' named by "
                 "AZURE_FEDERATED_TOKEN_FILE is %s; check the projected "
                 "service account token volume",
                 path, len == 0 ? "empty" : "larger than 64 KiB");
        return AZIDT_ERR_CONFIG;
    }
    *out = buf;
    return AZIDT_OK;
}

struct credential {
    const char *client_id;
    const char *secret;    /* client secret, or NULL */
    const char *assertion; /* client assertion JWT, or NULL */
};

/* Token errors are 400 or 401 with an OAuth code; a rejected client is
 * reported as AZIDT_ERR_UNAUTHORIZED whatever the status. */
static azidt_err map_token_error(azidt_err rc,
                                 const struct azidt_azure_response *resp)
{
    if (rc == AZIDT_ERR_INVALID || rc == AZIDT_ERR_UNAUTHORIZED) {
        if (strncmp(resp->error_code, "invalid_client", 14) == 0 ||
            strncmp(resp->error_code, "unauthorized_client", 19) == 0)
            return AZIDT_ERR_UNAUTHORIZED;
    }
    return rc;
}

static azidt_err request_token(struct azidt_azure_http *http,
                               const struct azidt_azure_config *cfg,
                               const struct credential *cred, const char *scope,
                               int64_t deadline_ms, char **token,
                               int64_t *lifetime_ms, char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    struct form_field fields[5];
    const cJSON *access, *expires;
    char url[1024], operation[300];
    size_t count = 0;
    char *form = NULL;
    azidt_err rc;

    *token = NULL;
    fields[count++] = (struct form_field){"grant_type", "client_credentials"};
    fields[count++] = (struct form_field){"client_id", cred->client_id};
    fields[count++] = (struct form_field){"scope", scope};
    if (cred->secret) {
        fields[count++] = (struct form_field){"client_secret", cred->secret};
    } else {
        fields[count++] =
            (struct form_field){"client_assertion_type", ASSERTION_TYPE};
        fields[count++] =
            (struct form_field){"client_assertion", cred->assertion};
    }
    form = build_form(fields, count);
    if (!form)
        return AZIDT_ERR_NOMEM;
    snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", cfg->authority_host,
             cfg->tenant_id);
    snprintf(operation, sizeof(operation),
             "request a token for %.120s as client %.64s", scope,
             cred->client_id);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "POST",
        .url = url,
        .form = form,
        .idempotent = true,
        .deadline_ms = deadline_ms,
        .service = AZIDT_METRICS_AZURE_TOKEN,
    };
    rc = azidt_azure_http_send(http, &req, &resp, err, errlen);
    if (rc) {
        rc = map_token_error(rc, &resp);
        goto out;
    }
    access = cJSON_GetObjectItemCaseSensitive(resp.json, "access_token");
    expires = cJSON_GetObjectItemCaseSensitive(resp.json, "expires_in");
    if (!cJSON_IsString(access) || !access->valuestring[0]) {
        snprintf(err, errlen,
                 "%s failed: the answer has no access_token; retrying will "
                 "not help",
                 operation);
        rc = AZIDT_ERR_REMOTE;
        goto out;
    }
    /* expires_in is a number in v2 responses and a string in older ones. */
    *lifetime_ms = 3599 * 1000;
    if (cJSON_IsNumber(expires) && expires->valuedouble > 0)
        *lifetime_ms = (int64_t)(expires->valuedouble * 1000);
    else if (cJSON_IsString(expires) && atoll(expires->valuestring) > 0)
        *lifetime_ms = atoll(expires->valuestring) * 1000;
    *token = strdup(access->valuestring);
    if (!*token)
        rc = AZIDT_ERR_NOMEM;
out:
    azidt_azure_response_clear(&resp);
    azidt_azure_secret_free(form);
    return rc;
}

azidt_err azidt_azure_auth_check_secret(struct azidt_azure_http *http,
                                        const struct azidt_azure_config *cfg,
                                        const char *client_id,
                                        const char *secret, const char *scope,
                                        int64_t deadline_ms, char *err,
                                        size_t errlen)
{
    struct credential cred = {.client_id = client_id, .secret = secret};
    int64_t lifetime_ms = 0;
    char *token = NULL;
    azidt_err rc;

    rc = request_token(http, cfg, &cred, scope, deadline_ms, &token,
                       &lifetime_ms, err, errlen);
    azidt_azure_secret_free(token);
    return rc;
}

/* Request a token with the webhook's own credential. */
static azidt_err fetch_own_token(struct azidt_azure_auth *auth,
                                 const char *scope, int64_t deadline_ms,
                                 char **token, int64_t *lifetime_ms, char *err,
                                 size_t errlen)
{
    struct credential cred = {.client_id = auth->cfg->client_id,
                              .secret = auth->cfg->client_secret};
    char *assertion = NULL;
    azidt_err rc;

    if (!cred.secret) {
        rc = read_assertion(auth->cfg->federated_token_file, &assertion, err,
                            errlen);
        if (rc)
            return rc;
        cred.assertion = assertion;
    }
    rc = request_token(auth->http, auth->cfg, &cred, scope, deadline_ms, token,
                       lifetime_ms, err, errlen);
    azidt_azure_secret_free(assertion);
    return rc;
}

/* ---- the cache ---- */

static struct token_entry *find_entry(struct azidt_azure_auth *auth,
                                      const char *scope)
{
    struct token_entry *e;

    for (e = auth->entries; e; e = e->next)
        if (strcmp(e->scope, scope) == 0)
            return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->scope = strdup(scope);
    if (!e->scope) {
        free(e);
        return NULL;
    }
    e->next = auth->entries;
    auth->entries = e;
    return e;
}

static void store_token(struct token_entry *e, char *token, int64_t lifetime_ms,
                        int64_t requested_ms)
{
    int64_t renew = lifetime_ms > 2 * RENEW_BEFORE_MS
                        ? lifetime_ms - RENEW_BEFORE_MS
                        : lifetime_ms / 2;

    azidt_azure_secret_free(e->token);
    e->token = token;
    /* Count the lifetime from when the request was sent, not received. */
    e->expires_ms = requested_ms + lifetime_ms;
    e->renew_ms = requested_ms + renew;
}

static azidt_err copy_token(const struct token_entry *e, char **token)
{
    *token = strdup(e->token);
    return *token ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

static bool wait_refresh(struct azidt_azure_auth *auth, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000,
                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};

    return pthread_cond_timedwait(&auth->refreshed, &auth->lock, &ts) == 0;
}

azidt_err azidt_azure_auth_token(struct azidt_azure_auth *auth,
                                 const char *scope, int64_t deadline_ms,
                                 char **token, char *err, size_t errlen)
{
    struct token_entry *e;
    char *fresh = NULL;
    int64_t lifetime_ms = 0, requested_ms;
    azidt_err rc;

    *token = NULL;
    pthread_mutex_lock(&auth->lock);
    e = find_entry(auth, scope);
    if (!e) {
        pthread_mutex_unlock(&auth->lock);
        return AZIDT_ERR_NOMEM;
    }
    for (;;) {
        int64_t now = azidt_clock_now_ms();

        if (e->token && now < e->renew_ms) {
            rc = copy_token(e, token);
            pthread_mutex_unlock(&auth->lock);
            return rc;
        }
        if (!e->refreshing)
            break;
        if (e->token && now + MIN_VALIDITY_MS < e->expires_ms) {
            rc = copy_token(e, token);
            pthread_mutex_unlock(&auth->lock);
            return rc;
        }
        if (!wait_refresh(auth, deadline_ms) &&
            azidt_deadline_passed(deadline_ms)) {
            pthread_mutex_unlock(&auth->lock);
            snprintf(err, errlen,
                     "request a token for %.120s timed out while another "
                     "request for it was in flight; retrying later may help",
                     scope);
            return AZIDT_ERR_TIMEOUT;
        }
    }
    e->refreshing = true;
    pthread_mutex_unlock(&auth->lock);

    requested_ms = azidt_clock_now_ms();
    rc = fetch_own_token(auth, scope, deadline_ms, &fresh, &lifetime_ms, err,
                         errlen);

    pthread_mutex_lock(&auth->lock);
    e->refreshing = false;
    if (rc == AZIDT_OK) {
        store_token(e, fresh, lifetime_ms, requested_ms);
        rc = copy_token(e, token);
    } else if (e->token &&
               azidt_clock_now_ms() + MIN_VALIDITY_MS < e->expires_ms) {
        /* Renewal failed early; the old token still works for a while. */
        AZIDT_LOG_WARN("Azure token renewal failed, using the cached token",
                       "scope", scope, "error", err);
        rc = copy_token(e, token);
    }
    pthread_cond_broadcast(&auth->refreshed);
    pthread_mutex_unlock(&auth->lock);
    return rc;
}

void azidt_azure_auth_invalidate(struct azidt_azure_auth *auth,
                                 const char *scope)
{
    struct token_entry *e;

    pthread_mutex_lock(&auth->lock);
    for (e = auth->entries; e; e = e->next) {
        if (strcmp(e->scope, scope) == 0 && e->token) {
            azidt_azure_secret_free(e->token);
            e->token = NULL;
            e->renew_ms = e->expires_ms = 0;
        }
    }
    pthread_mutex_unlock(&auth->lock);
}
