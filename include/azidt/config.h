/*
 * Process configuration from command-line flags and environment variables.
 *
 * Every setting has a flag (--port) and an environment variable
 * (AZIDT_PORT). Defaults come first, then the environment, then the flags,
 * so a flag overrides the variable of the same setting. The settings are
 * described by one table in config.c; a module that needs a new setting
 * adds a field to its section of struct azidt_config and a row to that
 * table, and the parser, --help and the error messages follow.
 *
 * Strings in the struct are owned by it and released by
 * azidt_config_free(). Not thread-safe while parsing; read-only afterwards.
 */
#ifndef AZIDT_CONFIG_H
#define AZIDT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "azidt/error.h"
#include "azidt/log.h"

/* Settings of the HTTPS listener and its request handling. */
struct azidt_server_config {
    char *listen_address;            /* IPv4 or IPv6 literal */
    uint16_t port;                   /* TCP port */
    char *tls_cert_file;             /* PEM certificate chain, leaf first */
    char *tls_key_file;              /* PEM private key of the leaf */
    int tls_min_version;             /* 12 for TLS 1.2, 13 for TLS 1.3 */
    int64_t cert_reload_interval_ms; /* how often the files are checked */
    size_t max_body_bytes;           /* largest accepted request body */
    int64_t default_timeout_ms;      /* when the request has no ?timeout= */
    int64_t idle_timeout_ms;         /* idle keep-alive connections close */
    int64_t shutdown_timeout_ms;     /* maximum drain after SIGTERM */
    unsigned http_threads;           /* libmicrohttpd thread pool size */
    unsigned slow_workers;           /* threads that run slow requests */
    unsigned slow_queue_size;        /* slow requests waiting for a worker */
    unsigned max_connections;        /* open connections at once */
    unsigned max_connections_per_ip; /* from one address; 0: no limit */
    char *client_ca_file;            /* NULL: no client certificate required */
    char *client_cert_names; /* comma-separated CN/SAN names; NULL: any */
};

/*
 * The whole configuration. Later parts add their own sections (Azure
 * endpoints and credentials, Kubernetes access, cluster id, policy
 * limits) next to server.
 */
/* Settings of provisioning: the Kubernetes and Azure sides and the
 * controller. The Azure credentials and endpoints come from the AZURE_*
 * environment variables (azure_config.h). */
struct azidt_identity_config {
    bool enabled;               /* false: validation only, no Azure calls */
    char *kubeconfig;           /* NULL: in-cluster service account */
    char *cluster_id;           /* NULL: the kube-system namespace uid */
    char *instance;             /* this replica's name, for Events */
    int64_t undo_reserve_ms;    /* admission time kept to undo a failure */
    int64_t resync_interval_ms; /* full reconcile of each object */
    int64_t sweep_interval_ms;  /* orphan sweep period */
    int64_t orphan_grace_ms;    /* age before an orphan is removed */
    int64_t secret_overlap_ms;  /* old secret kept after a rotation */
    unsigned controller_workers;
    bool leader_election;   /* false: this replica always leads */
    char *leader_namespace; /* namespace of the leader Lease */
};

/* Pod admission's handling of a pod whose azidterminator.io/identity
 * label names an AzureIdentityTerminator that is not Ready. */
enum azidt_not_ready_pods {
    AZIDT_NOT_READY_PODS_DENY, /* deny the pod with the Ready reason */
    AZIDT_NOT_READY_PODS_WARN, /* label the pod and admit it with a warning */
};

/* Settings of pod admission. */
struct azidt_pod_config {
    enum azidt_not_ready_pods not_ready;
};

/* Roles and scopes an AzureIdentityTerminator may grant (role_policy.h).
 * Comma-separated lists; NULL or "" is an empty list. */
struct azidt_policy_config {
    char *denied_roles;  /* names or GUIDs never granted */
    char *allowed_roles; /* when set, only these are granted */
    /* Scopes must start with one of these; NULL: the resource groups of
     * AZURE_SUBSCRIPTION_ID. */
    char *allowed_scope_prefixes;
};

/* The default of --denied-roles: the built-in roles that can grant access
 * to others or own resources. */
#define AZIDT_DEFAULT_DENIED_ROLES                                             \
    "Owner,User Access Administrator,Role Based Access Control "               \
    "Administrator"

struct azidt_config {
    struct azidt_server_config server;
    struct azidt_identity_config identity;
    struct azidt_pod_config pods;
    struct azidt_policy_config policy;
    enum azidt_log_level log_level;
    bool show_help;    /* --help was given: print help, exit 0 */
    bool show_version; /* --version was given */
};

/* Lookup function for environment variables; getenv() in production. */
typedef const char *(*azidt_config_getenv_fn)(const char *name);

/* Fill cfg with the defaults. Returns AZIDT_ERR_NOMEM on failure. */
azidt_err azidt_config_init(struct azidt_config *cfg);

/*
 * Apply the environment (through getenv_fn, which may be NULL to skip it)
 * and then argv[1..argc-1] to cfg, which azidt_config_init() filled.
 * Returns AZIDT_OK, or AZIDT_ERR_CONFIG with a one-line message in err
 * that names the flag or variable, the bad value and the accepted form.
 * Settings parsed before the error keep their new values.
 */
azidt_err azidt_config_parse(struct azidt_config *cfg, int argc,
                             char *const argv[],
                             azidt_config_getenv_fn getenv_fn, char *err,
                             size_t errlen);

/* Write the usage text: each flag, its variable, unit and default. */
void azidt_config_print_help(FILE *out, const char *program);

/* Release the strings cfg owns. Accepts NULL. */
void azidt_config_free(struct azidt_config *cfg);

/*
 * Parse a duration such as "10s", "1500ms", "2m" or "1h30m" (units h, m,
 * s, ms; at least one number with a unit; no sign) into milliseconds.
 * Returns AZIDT_ERR_INVALID for anything else, for overflow and for
 * values over max_ms, and leaves *ms unchanged then.
 */
azidt_err azidt_config_parse_duration_ms(const char *text, int64_t max_ms,
                                         int64_t *ms);

/*
 * Parse a size in bytes: digits with an optional binary suffix Ki, Mi or
 * Gi ("65536", "6Mi"). Returns AZIDT_ERR_INVALID for anything else and
 * for overflow, and leaves *bytes unchanged then.
 */
azidt_err azidt_config_parse_size(const char *text, size_t *bytes);

#endif
