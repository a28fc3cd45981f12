#include "azidt/azure_config.h"

#include <ctype.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Return the value of name, or NULL when it is unset or empty. */
static const char *lookup_value(azidt_azure_lookup_fn lookup, void *ctx,
                                const char *name)
{
    const char *value = lookup(name, ctx);

    return value && value[0] ? value : NULL;
}

/* Tenant, client and subscription ids go into URL paths and form bodies,
 * so only GUID and domain characters are accepted. */
static bool is_id_text(const char *value, bool allow_dot)
{
    for (const char *p = value; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' ||
                  (allow_dot && *p == '.');

        if (!ok)
            return false;
    }
    return true;
}

static azidt_err copy_id(azidt_azure_lookup_fn lookup, void *ctx,
                         const char *name, bool allow_dot, const char *fix,
                         char **out, char *err, size_t errlen)
{
    const char *value = lookup_value(lookup, ctx, name);

    if (!value) {
        snprintf(err, errlen, "%s is not set: %s", name, fix);
        return AZIDT_ERR_CONFIG;
    }
    if (!is_id_text(value, allow_dot)) {
        snprintf(err, errlen,
                 "%s is invalid: it may contain only letters, digits%s and "
                 "'-'; %s",
                 name, allow_dot ? ", '.'" : "", fix);
        return AZIDT_ERR_CONFIG;
    }
    *out = strdup(value);
    return *out ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

/* True for a GUID in the 8-4-4-4-12 hexadecimal form Azure uses. */
static bool is_guid(const char *value)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *p = value;

    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (int i = 0; i < groups[g]; i++, p++) {
            if (!isxdigit((unsigned char)*p))
                return false;
        }
        if (g + 1 < sizeof(groups) / sizeof(groups[0]) && *p++ != '-')
            return false;
    }
    return *p == '\0';
}

/* copy_id for a setting that Azure defines as a GUID. */
static azidt_err copy_guid(azidt_azure_lookup_fn lookup, void *ctx,
                           const char *name, const char *fix, char **out,
                           char *err, size_t errlen)
{
    azidt_err rc = copy_id(lookup, ctx, name, false, fix, out, err, errlen);

    if (rc || is_guid(*out))
        return rc;
    snprintf(err, errlen,
             "%s is invalid: \"%.64s\" is not a GUID such as "
             "00000000-0000-0000-0000-000000000000; %s",
             name, *out, fix);
    free(*out);
    *out = NULL;
    return AZIDT_ERR_CONFIG;
}

/* Copy an https endpoint without its trailing slashes, or the default. */
static azidt_err copy_endpoint(azidt_azure_lookup_fn lookup, void *ctx,
                               const char *name, const char *fallback,
                               char **out, char *err, size_t errlen)
{
    const char *value = lookup_value(lookup, ctx, name);
    size_t len;

    if (!value)
        value = fallback;
    len = strlen(value);
    while (len > 0 && value[len - 1] == '/')
        len--;
    if (len <= strlen("https://") || strncasecmp(value, "https://", 8) != 0 ||
        memchr(value, ' ', len)) {
        snprintf(err, errlen,
                 "%s is invalid: '%.200s' is not an https URL; set it to the "
                 "endpoint of your Azure cloud, such as %s",
                 name, value, fallback);
        return AZIDT_ERR_CONFIG;
    }
    *out = strndup(value, len);
    return *out ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

static azidt_err copy_readable_file(azidt_azure_lookup_fn lookup, void *ctx,
                                    const char *name, const char *expected,
                                    char **out, char *err, size_t errlen)
{
    const char *value = lookup_value(lookup, ctx, name);

    if (!value)
        return AZIDT_OK;
    if (access(value, R_OK) != 0) {
        snprintf(err, errlen,
                 "%s names '%.300s', which cannot be read; point it at %s",
                 name, value, expected);
        return AZIDT_ERR_CONFIG;
    }
    *out = strdup(value);
    return *out ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

static azidt_err load_credential(azidt_azure_lookup_fn lookup, void *ctx,
                                 struct azidt_azure_config *cfg, char *err,
                                 size_t errlen)
{
    const char *secret = lookup_value(lookup, ctx, "AZURE_CLIENT_SECRET");

    if (secret) {
        cfg->client_secret = strdup(secret);
        return cfg->client_secret ? AZIDT_OK : AZIDT_ERR_NOMEM;
    }
    if (!lookup_value(lookup, ctx, "AZURE_FEDERATED_TOKEN_FILE")) {
        snprintf(err, errlen,
                 "neither AZURE_CLIENT_SECRET nor AZURE_FEDERATED_TOKEN_FILE "
                 "is set: set AZURE_CLIENT_SECRET to a client secret of the "
                 "application AZURE_CLIENT_ID, or AZURE_FEDERATED_TOKEN_FILE "
                 "to a projected service account token trusted by it");
        return AZIDT_ERR_CONFIG;
    }
    return copy_readable_file(lookup, ctx, "AZURE_FEDERATED_TOKEN_FILE",
                              "the projected service account token file",
                              &cfg->federated_token_file, err, errlen);
}

azidt_err azidt_azure_config_load(azidt_azure_lookup_fn lookup, void *ctx,
                                  struct azidt_azure_config **out, char *err,
                                  size_t errlen)
{
    struct azidt_azure_config *cfg = NULL;
    azidt_err rc;

    *out = NULL;
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return AZIDT_ERR_NOMEM;

    rc = copy_id(lookup, ctx, "AZURE_TENANT_ID", true,
                 "set it to the directory (tenant) id, a GUID or a verified "
                 "domain of the Azure AD tenant",
                 &cfg->tenant_id, err, errlen);
    if (rc)
        goto out;
    rc = copy_guid(lookup, ctx, "AZURE_CLIENT_ID",
                   "set it to the application (client) id that the webhook "
                   "signs in as",
                   &cfg->client_id, err, errlen);
    if (rc)
        goto out;
    rc = load_credential(lookup, ctx, cfg, err, errlen);
    if (rc)
        goto out;
    rc = copy_guid(lookup, ctx, "AZURE_SUBSCRIPTION_ID",
                   "set it to the id of the subscription that holds the "
                   "cluster's node resource group",
                   &cfg->subscription_id, err, errlen);
    if (rc)
        goto out;
    rc = copy_endpoint(lookup, ctx, "AZURE_AUTHORITY_HOST",
                       AZIDT_AZURE_DEFAULT_AUTHORITY, &cfg->authority_host, err,
                       errlen);
    if (rc)
        goto out;
    rc = copy_endpoint(lookup, ctx, "AZURE_GRAPH_ENDPOINT",
                       AZIDT_AZURE_DEFAULT_GRAPH, &cfg->graph_endpoint, err,
                       errlen);
    if (rc)
        goto out;
    rc =
        copy_endpoint(lookup, ctx, "AZURE_ARM_ENDPOINT",
                      AZIDT_AZURE_DEFAULT_ARM, &cfg->arm_endpoint, err, errlen);
    if (rc)
        goto out;
    rc = copy_readable_file(lookup, ctx, "AZURE_CA_FILE",
                            "a PEM file of CA certificates", &cfg->ca_file, err,
                            errlen);
out:
    if (rc == AZIDT_ERR_NOMEM)
        snprintf(err, errlen, "out of memory while loading Azure settings");
    if (rc) {
        azidt_azure_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return AZIDT_OK;
}

static const char *lookup_env(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

azidt_err azidt_azure_config_from_env(struct azidt_azure_config **out,
                                      char *err, size_t errlen)
{
    return azidt_azure_config_load(lookup_env, NULL, out, err, errlen);
}

void azidt_azure_config_free(struct azidt_azure_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->client_secret) {
        OPENSSL_cleanse(cfg->client_secret, strlen(cfg->client_secret));
        free(cfg->client_secret);
    }
    free(cfg->tenant_id);
    free(cfg->client_id);
    free(cfg->federated_token_file);
    free(cfg->subscription_id);
    free(cfg->authority_host);
    free(cfg->graph_endpoint);
    free(cfg->arm_endpoint);
    free(cfg->ca_file);
    free(cfg);
}
