#include "azidt/config.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Type of a setting's parsed value. */
enum option_type {
    OPT_STRING,      /* char *, copied */
    OPT_LIST,        /* char *, copied; comma-separated, may be empty */
    OPT_PORT,        /* uint16_t, 1..65535 */
    OPT_COUNT,       /* unsigned, within [min, max] */
    OPT_SIZE,        /* size_t bytes, within [min, max] */
    OPT_DURATION,    /* int64_t milliseconds, within [min, max] */
    OPT_LOG_LEVEL,   /* enum azidt_log_level */
    OPT_TLS_VERSION, /* int, 12 or 13 */
    OPT_SWITCH,      /* bool, "enabled" or "disabled" */
    OPT_NOT_READY,   /* enum azidt_not_ready_pods, "deny" or "warn" */
};

struct option {
    const char *flag; /* without the leading "--" */
    const char *env;  /* environment variable */
    enum option_type type;
    size_t offset; /* of the field in struct azidt_config */
    int64_t min;   /* for counts, sizes and durations */
    int64_t max;
    const char *value_name; /* shown in --help after the flag */
    const char *help;       /* what it sets, with the unit */
    const char *default_text;
};

#define FIELD(name) offsetof(struct azidt_config, name)
#define KIB 1024LL
#define MIB (1024LL * 1024LL)
#define SECOND_MS 1000LL
#define HOUR_MS (3600LL * 1000LL)

/*
 * One row per setting. Keep defaults here and in azidt_config_init() in
 * step: default_text is what --help prints.
 */
static const struct option options[] = {
    {"listen-address", "AZIDT_LISTEN_ADDRESS", OPT_STRING,
     FIELD(server.listen_address), 0, 0, "ADDRESS",
     "IP address the HTTPS listener binds (IPv4 or IPv6 literal)", "0.0.0.0"},
    {"port", "AZIDT_PORT", OPT_PORT, FIELD(server.port), 1, 65535, "PORT",
     "TCP port of the HTTPS listener", "8443"},
    {"tls-cert-file", "AZIDT_TLS_CERT_FILE", OPT_STRING,
     FIELD(server.tls_cert_file), 0, 0, "PATH",
     "PEM serving certificate, leaf first, then intermediates; reloaded "
     "when it changes",
     "/etc/azidt/tls/tls.crt"},
    {"tls-key-file", "AZIDT_TLS_KEY_FILE", OPT_STRING,
     FIELD(server.tls_key_file), 0, 0, "PATH",
     "PEM private key of the serving certificate; reloaded when it changes",
     "/etc/azidt/tls/tls.key"},
    {"tls-min-version", "AZIDT_TLS_MIN_VERSION", OPT_TLS_VERSION,
     FIELD(server.tls_min_version), 0, 0, "VERSION",
     "oldest TLS version accepted: 1.2 or 1.3", "1.2"},
    {"cert-reload-interval", "AZIDT_CERT_RELOAD_INTERVAL", OPT_DURATION,
     FIELD(server.cert_reload_interval_ms), 100, HOUR_MS, "DURATION",
     "how often the certificate and key files are checked for changes "
     "(duration such as 5s or 500ms)",
     "5s"},
    {"max-body-bytes", "AZIDT_MAX_BODY_BYTES", OPT_SIZE,
     FIELD(server.max_body_bytes), KIB, 1024 * MIB, "BYTES",
     "largest request body accepted, in bytes (suffix Ki, Mi or Gi "
     "allowed); larger requests get 413",
     "6Mi"},
    {"default-timeout", "AZIDT_DEFAULT_TIMEOUT", OPT_DURATION,
     FIELD(server.default_timeout_ms), SECOND_MS, 30 * SECOND_MS, "DURATION",
     "answer deadline for requests without ?timeout= (duration such as "
     "10s, 1s to 30s)",
     "10s"},
    {"idle-timeout", "AZIDT_IDLE_TIMEOUT", OPT_DURATION,
     FIELD(server.idle_timeout_ms), SECOND_MS, HOUR_MS, "DURATION",
     "connections are closed after this duration without traffic, in "
     "the TLS handshake, in a request or between requests (whole seconds)",
     "30s"},
    {"shutdown-timeout", "AZIDT_SHUTDOWN_TIMEOUT", OPT_DURATION,
     FIELD(server.shutdown_timeout_ms), 0, HOUR_MS, "DURATION",
     "longest wait for requests in flight after SIGTERM or SIGINT "
     "(duration such as 25s)",
     "25s"},
    {"http-threads", "AZIDT_HTTP_THREADS", OPT_COUNT,
     FIELD(server.http_threads), 1, 256, "COUNT",
     "threads that accept connections and answer fast requests (1 to 256)",
     "4"},
    {"slow-workers", "AZIDT_SLOW_WORKERS", OPT_COUNT,
     FIELD(server.slow_workers), 1, 1024, "COUNT",
     "threads that run requests calling Azure (1 to 1024)", "8"},
    {"slow-queue-size", "AZIDT_SLOW_QUEUE_SIZE", OPT_COUNT,
     FIELD(server.slow_queue_size), 0, 65536, "COUNT",
     "slow requests that may wait for a free worker (0 to 65536); when "
     "full, new slow requests are denied at once",
     "64"},
    {"max-connections", "AZIDT_MAX_CONNECTIONS", OPT_COUNT,
     FIELD(server.max_connections), 16, 1000000, "COUNT",
     "connections open at once (16 to 1000000); further ones wait in the "
     "kernel's listen queue until one closes, so they never use up file "
     "descriptors; lowered to fit the open-file limit",
     "1024"},
    {"max-connections-per-ip", "AZIDT_MAX_CONNECTIONS_PER_IP", OPT_COUNT,
     FIELD(server.max_connections_per_ip), 0, 1000000, "COUNT",
     "connections open at once from one client address (0 for no limit); "
     "further ones are closed at accept, so one client cannot hold every "
     "connection; keep it above the apiserver's concurrent webhook calls",
     "512"},
    {"client-ca-file", "AZIDT_CLIENT_CA_FILE", OPT_STRING,
     FIELD(server.client_ca_file), 0, 0, "PATH",
     "PEM CA certificates that sign the apiserver's client certificate; "
     "when set, admission requests without a certificate they verify get "
     "401 (probes and /metrics stay open); reloaded when it changes",
     "(none: no client certificate required)"},
    {"client-cert-names", "AZIDT_CLIENT_CERT_NAMES", OPT_STRING,
     FIELD(server.client_cert_names), 0, 0, "NAMES",
     "comma-separated names; with --client-ca-file, the client "
     "certificate's common name or a DNS subject alternative name must be "
     "one of them",
     "(any name)"},
    {"log-level", "AZIDT_LOG_LEVEL", OPT_LOG_LEVEL, FIELD(log_level), 0, 0,
     "LEVEL", "lowest log level written: debug, info, warn or error", "info"},
    {"provisioning", "AZIDT_PROVISIONING", OPT_SWITCH, FIELD(identity.enabled),
     0, 0, "enabled|disabled",
     "enabled: create Azure identities at admission and run the controller "
     "(needs the AZURE_* variables and Kubernetes access); disabled: "
     "validate only",
     "enabled"},
    {"kubeconfig", "KUBECONFIG", OPT_STRING, FIELD(identity.kubeconfig), 0, 0,
     "PATH",
     "kubeconfig file for running outside the cluster; without it the "
     "in-cluster service account is used",
     "(in-cluster)"},
    {"cluster-id", "AZIDT_CLUSTER_ID", OPT_STRING, FIELD(identity.cluster_id),
     0, 0, "ID",
     "name that marks this cluster's Azure applications; keep it stable "
     "for the cluster's life",
     "(uid of the kube-system namespace)"},
    {"instance", "POD_NAME", OPT_STRING, FIELD(identity.instance), 0, 0, "NAME",
     "this replica's name, shown as the source of Events", "(host name)"},
    {"undo-reserve", "AZIDT_UNDO_RESERVE", OPT_DURATION,
     FIELD(identity.undo_reserve_ms), 0, 20 * SECOND_MS, "DURATION",
     "part of the admission deadline kept to undo a failed create in Azure "
     "(duration, at most 20s)",
     "4s"},
    {"resync-interval", "AZIDT_RESYNC_INTERVAL", OPT_DURATION,
     FIELD(identity.resync_interval_ms), SECOND_MS, 24 * HOUR_MS, "DURATION",
     "how often each AzureIdentityTerminator is checked against Azure and "
     "repaired (duration, 1s to 24h)",
     "10m"},
    {"sweep-interval", "AZIDT_SWEEP_INTERVAL", OPT_DURATION,
     FIELD(identity.sweep_interval_ms), SECOND_MS, 24 * HOUR_MS, "DURATION",
     "how often orphaned Azure applications are looked for (duration, 1s "
     "to 24h)",
     "10m"},
    {"orphan-grace", "AZIDT_ORPHAN_GRACE", OPT_DURATION,
     FIELD(identity.orphan_grace_ms), 30 * SECOND_MS, 24 * HOUR_MS, "DURATION",
     "minimum age of an application without an AzureIdentityTerminator "
     "before the sweep deletes it (duration, 30s to 24h); at least 30s, the "
     "longest admission timeout, so the sweep never deletes an application "
     "whose create is still being admitted",
     "10m"},
    {"secret-overlap", "AZIDT_SECRET_OVERLAP", OPT_DURATION,
     FIELD(identity.secret_overlap_ms), 0, 24 * HOUR_MS, "DURATION",
     "how long the previous client secret stays valid after a rotation, "
     "so running pods can pick up the new one (duration)",
     "10m"},
    {"controller-workers", "AZIDT_CONTROLLER_WORKERS", OPT_COUNT,
     FIELD(identity.controller_workers), 1, 64, "COUNT",
     "threads that reconcile AzureIdentityTerminators (1 to 64)", "2"},
    {"leader-election", "AZIDT_LEADER_ELECTION", OPT_SWITCH,
     FIELD(identity.leader_election), 0, 0, "enabled|disabled",
     "enabled: replicas elect one leader through a Lease, and only it runs "
     "the controller; disabled: this replica always runs it",
     "enabled"},
    {"leader-election-namespace", "POD_NAMESPACE", OPT_STRING,
     FIELD(identity.leader_namespace), 0, 0, "NAMESPACE",
     "namespace of the leader Lease azure-identity-terminator", "default"},
    {"not-ready-pods", "AZIDT_NOT_READY_PODS", OPT_NOT_READY,
     FIELD(pods.not_ready), 0, 0, "deny|warn",
     "what happens to a pod whose azidterminator.io/identity label names an "
     "AzureIdentityTerminator that is not Ready: deny rejects the pod with "
     "the Ready reason; warn sets its aadpodidbinding label and admits it "
     "with a warning",
     "deny"},
    {"denied-roles", "AZIDT_DENIED_ROLES", OPT_LIST, FIELD(policy.denied_roles),
     0, 0, "ROLES",
     "comma-separated role names or GUIDs that spec.roleAssignments may "
     "never grant; built-in names also match their GUIDs; list custom "
     "roles by GUID; empty denies none",
     AZIDT_DEFAULT_DENIED_ROLES},
    {"allowed-roles", "AZIDT_ALLOWED_ROLES", OPT_LIST,
     FIELD(policy.allowed_roles), 0, 0, "ROLES",
     "comma-separated role names or GUIDs; when set, spec.roleAssignments "
     "may grant only these (and never a denied role)",
     "(every role not denied)"},
    {"allowed-scope-prefixes", "AZIDT_ALLOWED_SCOPE_PREFIXES", OPT_LIST,
     FIELD(policy.allowed_scope_prefixes), 0, 0, "PREFIXES",
     "comma-separated ARM scope prefixes; every spec.roleAssignments scope "
     "must start with one of them (compared case-insensitively; \"..\" is "
     "never accepted)",
     "/subscriptions/<AZURE_SUBSCRIPTION_ID>/resourceGroups/"},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

azidt_err azidt_config_init(struct azidt_config *cfg)
{
    struct azidt_server_config *srv = &cfg->server;

    memset(cfg, 0, sizeof(*cfg));
    srv->listen_address = strdup("0.0.0.0");
    srv->tls_cert_file = strdup("/etc/azidt/tls/tls.crt");
    srv->tls_key_file = strdup("/etc/azidt/tls/tls.key");
    if (!srv->listen_address || !srv->tls_cert_file || !srv->tls_key_file) {
        azidt_config_free(cfg);
        return AZIDT_ERR_NOMEM;
    }
    srv->port = 8443;
    srv->tls_min_version = 12;
    srv->cert_reload_interval_ms = 5 * SECOND_MS;
    srv->max_body_bytes = (size_t)(6 * MIB);
    srv->default_timeout_ms = 10 * SECOND_MS;
    srv->idle_timeout_ms = 30 * SECOND_MS;
    srv->shutdown_timeout_ms = 25 * SECOND_MS;
    srv->http_threads = 4;
    srv->slow_workers = 8;
    srv->slow_queue_size = 64;
    srv->max_connections = 1024;
    srv->max_connections_per_ip = 512;
    cfg->log_level = AZIDT_LOG_INFO;
    cfg->identity.enabled = true;
    cfg->identity.undo_reserve_ms = 4 * SECOND_MS;
    cfg->identity.resync_interval_ms = 10 * 60 * SECOND_MS;
    cfg->identity.sweep_interval_ms = 10 * 60 * SECOND_MS;
    cfg->identity.orphan_grace_ms = 10 * 60 * SECOND_MS;
    cfg->identity.secret_overlap_ms = 10 * 60 * SECOND_MS;
    cfg->identity.controller_workers = 2;
    cfg->identity.leader_election = true;
    cfg->pods.not_ready = AZIDT_NOT_READY_PODS_DENY;
    cfg->policy.denied_roles = strdup(AZIDT_DEFAULT_DENIED_ROLES);
    if (!cfg->policy.denied_roles) {
        azidt_config_free(cfg);
        return AZIDT_ERR_NOMEM;
    }
    return AZIDT_OK;
}

void azidt_config_free(struct azidt_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server.listen_address);
    free(cfg->server.tls_cert_file);
    free(cfg->server.tls_key_file);
    cfg->server.listen_address = NULL;
    cfg->server.tls_cert_file = NULL;
    cfg->server.tls_key_file = NULL;
    free(cfg->server.client_ca_file);
    free(cfg->server.client_cert_names);
    cfg->server.client_ca_file = NULL;
    cfg->server.client_cert_names = NULL;
    free(cfg->identity.kubeconfig);
    free(cfg->identity.cluster_id);
    free(cfg->identity.instance);
    free(cfg->identity.leader_namespace);
    cfg->identity.leader_namespace = NULL;
    cfg->identity.kubeconfig = NULL;
    cfg->identity.cluster_id = NULL;
    cfg->identity.instance = NULL;
    free(cfg->policy.denied_roles);
    free(cfg->policy.allowed_roles);
    free(cfg->policy.allowed_scope_prefixes);
    cfg->policy.denied_roles = NULL;
    cfg->policy.allowed_roles = NULL;
    cfg->policy.allowed_scope_prefixes = NULL;
}

/* Parse decimal digits only (no sign, no spaces) into *value. */
static azidt_err parse_digits(const char *text, const char **end,
                              uint64_t *value)
{
    uint64_t result = 0;
    const char *p = text;

    if (*p < '0' || *p > '9')
        return AZIDT_ERR_INVALID;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');

        if (result > (UINT64_MAX - digit) / 10)
            return AZIDT_ERR_INVALID;
        result = result * 10 + digit;
    }
    *end = p;
    *value = result;
    return AZIDT_OK;
}

azidt_err azidt_config_parse_duration_ms(const char *text, int64_t max_ms,
                                         int64_t *ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    uint64_t total = 0;
    const char *p = text;

    if (!text || !*text)
        return AZIDT_ERR_INVALID;
    while (*p) {
        uint64_t count;
        size_t i;

        if (parse_digits(p, &p, &count))
            return AZIDT_ERR_INVALID;
        /* "ms" is tried before "m", so "5ms" is not read as 5 minutes. */
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t len = strlen(units[i].suffix);

            if (strncmp(p, units[i].suffix, len) == 0)
                break;
        }
        if (i == sizeof(units) / sizeof(units[0]))
            return AZIDT_ERR_INVALID;
        p += strlen(units[i].suffix);
        if (count > (uint64_t)INT64_MAX / units[i].ms)
            return AZIDT_ERR_INVALID;
        count *= units[i].ms;
        if (total > (uint64_t)INT64_MAX - count)
            return AZIDT_ERR_INVALID;
        total += count;
    }
    if (total > (uint64_t)max_ms)
        return AZIDT_ERR_INVALID;
    *ms = (int64_t)total;
    return AZIDT_OK;
}

azidt_err azidt_config_parse_size(const char *text, size_t *bytes)
{
    static const struct {
        const char *suffix;
        uint64_t factor;
    } suffixes[] = {
        {"", 1}, {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30}};
    uint64_t count;
    const char *end;

    if (!text || parse_digits(text, &end, &count))
        return AZIDT_ERR_INVALID;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(end, suffixes[i].suffix) != 0)
            continue;
        if (count > SIZE_MAX / suffixes[i].factor)
            return AZIDT_ERR_INVALID;
        *bytes = (size_t)(count * suffixes[i].factor);
        return AZIDT_OK;
    }
    return AZIDT_ERR_INVALID;
}

/* Write ms in the largest unit that divides it evenly: 24h, 90s, 500ms. */
static void format_ms(int64_t ms, char *buf, size_t len)
{
    if (ms > 0 && ms % HOUR_MS == 0)
        snprintf(buf, len, "%lldh", (long long)(ms / HOUR_MS));
    else if (ms > 0 && ms % (60 * SECOND_MS) == 0)
        snprintf(buf, len, "%lldm", (long long)(ms / (60 * SECOND_MS)));
    else if (ms > 0 && ms % SECOND_MS == 0)
        snprintf(buf, len, "%llds", (long long)(ms / SECOND_MS));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
}

/* Describe the accepted form of opt's values, for error messages. */
static void describe_expected(const struct option *opt, char *buf, size_t len)
{
    switch (opt->type) {
    case OPT_STRING:
        snprintf(buf, len, "a non-empty string");
        break;
    case OPT_LIST:
        snprintf(buf, len, "a comma-separated list");
        break;
    case OPT_PORT:
        snprintf(buf, len, "an integer from 1 to 65535");
        break;
    case OPT_COUNT:
        snprintf(buf, len, "an integer from %lld to %lld", (long long)opt->min,
                 (long long)opt->max);
        break;
    case OPT_SIZE:
        snprintf(buf, len,
                 "a byte count from %lld to %lld, optionally with suffix "
                 "Ki, Mi or Gi (such as 6Mi)",
                 (long long)opt->min, (long long)opt->max);
        break;
    case OPT_DURATION: {
        char low[24], high[24];

        format_ms(opt->min, low, sizeof(low));
        format_ms(opt->max, high, sizeof(high));
        snprintf(buf, len,
                 "a duration from %s to %s with units h, m, s or ms (such "
                 "as 10s or 1m30s)",
                 low, high);
        break;
    }
    case OPT_LOG_LEVEL:
        snprintf(buf, len, "one of debug, info, warn, error");
        break;
    case OPT_TLS_VERSION:
        snprintf(buf, len, "1.2 or 1.3");
        break;
    case OPT_SWITCH:
        snprintf(buf, len, "enabled or disabled");
        break;
    case OPT_NOT_READY:
        snprintf(buf, len, "deny or warn");
        break;
    }
}

static azidt_err parse_count(const char *text, const struct option *opt,
                             uint64_t *value)
{
    const char *end;

    if (parse_digits(text, &end, value) || *end)
        return AZIDT_ERR_INVALID;
    if (*value < (uint64_t)opt->min || *value > (uint64_t)opt->max)
        return AZIDT_ERR_INVALID;
    return AZIDT_OK;
}

/* Store text as opt's value in cfg. Returns AZIDT_ERR_INVALID when the
 * text has the wrong form or is out of range, AZIDT_ERR_NOMEM when a copy
 * fails. */
static azidt_err apply_value(struct azidt_config *cfg, const struct option *opt,
                             const char *text)
{
    char *field = (char *)cfg + opt->offset;
    uint64_t count;
    int64_t ms;
    size_t bytes;

    switch (opt->type) {
    case OPT_STRING:
    case OPT_LIST: {
        char *copy;

        if (!*text && opt->type == OPT_STRING)
            return AZIDT_ERR_INVALID;
        copy = strdup(text);
        if (!copy)
            return AZIDT_ERR_NOMEM;
        free(*(char **)(void *)field);
        *(char **)(void *)field = copy;
        return AZIDT_OK;
    }
    case OPT_PORT:
    case OPT_COUNT:
        if (parse_count(text, opt, &count))
            return AZIDT_ERR_INVALID;
        if (opt->type == OPT_PORT)
            *(uint16_t *)(void *)field = (uint16_t)count;
        else
            *(unsigned *)(void *)field = (unsigned)count;
        return AZIDT_OK;
    case OPT_SIZE:
        if (azidt_config_parse_size(text, &bytes) || bytes < (size_t)opt->min ||
            bytes > (size_t)opt->max)
            return AZIDT_ERR_INVALID;
        *(size_t *)(void *)field = bytes;
        return AZIDT_OK;
    case OPT_DURATION:
        if (azidt_config_parse_duration_ms(text, opt->max, &ms) ||
            ms < opt->min)
            return AZIDT_ERR_INVALID;
        *(int64_t *)(void *)field = ms;
        return AZIDT_OK;
    case OPT_LOG_LEVEL:
        return azidt_log_parse_level(text,
                                     (enum azidt_log_level *)(void *)field);
    case OPT_TLS_VERSION:
        if (strcmp(text, "1.2") == 0)
            *(int *)(void *)field = 12;
        else if (strcmp(text, "1.3") == 0)
            *(int *)(void *)field = 13;
        else
            return AZIDT_ERR_INVALID;
        return AZIDT_OK;
    case OPT_SWITCH:
        if (strcmp(text, "enabled") == 0)
            *(bool *)(void *)field = true;
        else if (strcmp(text, "disabled") == 0)
            *(bool *)(void *)field = false;
        else
            return AZIDT_ERR_INVALID;
        return AZIDT_OK;
    case OPT_NOT_READY:
        if (strcmp(text, "deny") == 0)
            *(enum azidt_not_ready_pods *)(void *)field =
                AZIDT_NOT_READY_PODS_DENY;
        else if (strcmp(text, "warn") == 0)
            *(enum azidt_not_ready_pods *)(void *)field =
                AZIDT_NOT_READY_PODS_WARN;
        else
            return AZIDT_ERR_INVALID;
        return AZIDT_OK;
    }
    return AZIDT_ERR_INVALID;
}

/* Apply one value and turn a failure into a message naming the source
 * ("--port" or "AZIDT_PORT"), the value and the accepted form. */
static azidt_err apply_from(struct azidt_config *cfg, const struct option *opt,
                            const char *text, bool from_env, char *err,
                            size_t errlen)
{
    char expected[160];
    azidt_err rc = apply_value(cfg, opt, text);

    if (rc == AZIDT_ERR_NOMEM) {
        snprintf(err, errlen, "out of memory while reading --%s", opt->flag);
        return AZIDT_ERR_NOMEM;
    }
    if (rc == AZIDT_OK)
        return AZIDT_OK;
    describe_expected(opt, expected, sizeof(expected));
    if (from_env)
        snprintf(err, errlen,
                 "invalid value \"%.100s\" in environment variable %s: "
                 "expected %s; fix or unset %s",
                 text, opt->env, expected, opt->env);
    else
        snprintf(err, errlen, "invalid value \"%.100s\" for --%s: expected %s",
                 text, opt->flag, expected);
    return AZIDT_ERR_CONFIG;
}

static const struct option *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(options[i].flag) == len &&
            strncmp(options[i].flag, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

static azidt_err apply_env(struct azidt_config *cfg,
                           azidt_config_getenv_fn getenv_fn, char *err,
                           size_t errlen)
{
    for (size_t i = 0; i < OPTION_COUNT && getenv_fn; i++) {
        const char *text = getenv_fn(options[i].env);
        azidt_err rc;

        if (!text)
            continue;
        rc = apply_from(cfg, &options[i], text, true, err, errlen);
        if (rc)
            return rc;
    }
    return AZIDT_OK;
}

/* Handle argv[*index], which starts with "--", and its value, which is
 * either after '=' or the next argument. */
static azidt_err apply_flag(struct azidt_config *cfg, int argc,
                            char *const argv[], int *index, char *err,
                            size_t errlen)
{
    const char *arg = argv[*index] + 2;
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    const struct option *opt = find_flag(arg, name_len);
    const char *value;

    if (!opt) {
        snprintf(err, errlen,
                 "unknown flag \"%.100s\"; run with --help to list the "
                 "flags",
                 argv[*index]);
        return AZIDT_ERR_CONFIG;
    }
    if (eq) {
        value = eq + 1;
    } else if (*index + 1 < argc) {
        value = argv[++*index];
    } else {
        snprintf(err, errlen, "missing value after --%s (%s)", opt->flag,
                 opt->value_name);
        return AZIDT_ERR_CONFIG;
    }
    return apply_from(cfg, opt, value, false, err, errlen);
}

azidt_err azidt_config_parse(struct azidt_config *cfg, int argc,
                             char *const argv[],
                             azidt_config_getenv_fn getenv_fn, char *err,
                             size_t errlen)
{
    azidt_err rc = apply_env(cfg, getenv_fn, err, errlen);

    for (int i = 1; i < argc && rc == AZIDT_OK; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->show_help = true;
        } else if (strcmp(arg, "--version") == 0) {
            cfg->show_version = true;
        } else if (strncmp(arg, "--", 2) == 0 && arg[2]) {
            rc = apply_flag(cfg, argc, argv, &i, err, errlen);
        } else {
            snprintf(err, errlen,
                     "unexpected argument \"%.100s\"; flags start with "
                     "-- (run with --help to list them)",
                     arg);
            rc = AZIDT_ERR_CONFIG;
        }
    }
    return rc;
}

/* Write text after a six-space indent, wrapped at 78 columns, capitalised
 * and ending with a period. */
static void print_wrapped(FILE *out, const char *text)
{
    const size_t width = 78 - 6;
    size_t column = 0;
    bool first = true;

    while (*text) {
        size_t word = strcspn(text, " ");

        if (column > 0 && column + 1 + word > width) {
            fputc('\n', out);
            column = 0;
        }
        fputs(column == 0 ? "      " : " ", out);
        if (first && word > 0) {
            fputc(toupper((unsigned char)text[0]), out);
            fwrite(text + 1, 1, word - 1, out);
            first = false;
        } else {
            fwrite(text, 1, word, out);
        }
        column += (column ? 1 : 0) + word;
        text += word;
        while (*text == ' ')
            text++;
    }
    fputs(".\n", out);
}

void azidt_config_print_help(FILE *out, const char *program)
{
    fprintf(out,
            "Usage: %s [FLAGS]\n\n"
            "Azure Identity Terminator admission webhook. Each flag has an\n"
            "environment variable; a flag overrides its variable.\n\n",
            program);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option *opt = &options[i];

        fprintf(out, "  --%s %s\n", opt->flag, opt->value_name);
        print_wrapped(out, opt->help);
        fprintf(out, "      Environment: %s. Default: %s.\n", opt->env,
                opt->default_text);
    }
    fprintf(out, "  --help\n      Print this text and exit.\n"
                 "  --version\n      Print the version and exit.\n");
}
