/*
 * azidt-webhook: read the configuration, load the serving certificate,
 * serve the admission routes until SIGTERM or SIGINT, then drain.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "azidt/client_auth.h"
#include "azidt/config.h"
#include "azidt/constants.h"
#include "azidt/handlers.h"
#include "azidt/identity_cache.h"
#include "azidt/identity_service.h"
#include "azidt/log.h"
#include "azidt/role_policy.h"
#include "azidt/server.h"
#include "azidt/tls_store.h"

/* Grace period for a superseded certificate pair beyond the idle timeout:
 * by then every handshake that could have picked it up has ended. */
#define CERT_GRACE_EXTRA_MS 60000

/* File descriptors kept for everything but client connections: logs,
 * certificate files, the Kubernetes and Azure clients, libmicrohttpd's
 * epoll and signalling descriptors. */
#define RESERVED_FDS 128

static void format_limit(rlim_t value, char *buf, size_t len)
{
    if (value == RLIM_INFINITY)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%llu", (unsigned long long)value);
}

/*
 * Raise the soft open-file limit to the hard limit, log both, and lower
 * *max_connections when the limit cannot hold them with RESERVED_FDS to
 * spare, so that open connections never exhaust the descriptors that
 * accepting the apiserver's next connection needs.
 */
static void raise_file_limit(unsigned *max_connections)
{
    struct rlimit lim;
    char soft[32];
    char hard[32];
    char before[32];
    char count[16];

    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        AZIDT_LOG_WARN("cannot read the open-file limit", "error",
                       strerror(errno));
        return;
    }
    format_limit(lim.rlim_cur, before, sizeof(before));
    if (lim.rlim_cur != lim.rlim_max) {
        rlim_t old = lim.rlim_cur;

        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
            AZIDT_LOG_WARN("cannot raise the open-file limit", "error",
                           strerror(errno));
            lim.rlim_cur = old;
        }
    }
    format_limit(lim.rlim_cur, soft, sizeof(soft));
    format_limit(lim.rlim_max, hard, sizeof(hard));
    AZIDT_LOG_INFO("open-file limit", "soft", soft, "hard", hard,
                   "soft_at_start", before);
    if (lim.rlim_cur != RLIM_INFINITY &&
        (rlim_t)*max_connections + RESERVED_FDS > lim.rlim_cur) {
        *max_connections = lim.rlim_cur > RESERVED_FDS + 16
                               ? (unsigned)(lim.rlim_cur - RESERVED_FDS)
                               : 16;
        snprintf(count, sizeof(count), "%u", *max_connections);
        AZIDT_LOG_WARN("lowered --max-connections to fit the open-file "
                       "limit; raise the hard limit (ulimit -n) to allow "
                       "more",
                       "max_connections", count, "open_file_limit", soft);
    }
}

static bool validate_needs_worker(void *ctx,
                                  const struct azidt_admission_request *req)
{
    (void)ctx;
    return azidt_azidt_validate_needs_worker(req);
}

static azidt_err add_routes(struct azidt_server *server,
                            struct azidt_handler_ctx *handlers)
{
    const struct azidt_route routes[] = {
        {AZIDT_ROUTE_MUTATE_AZIDT, AZIDT_GROUP, AZIDT_KIND,
         azidt_handle_azidt_mutate, handlers, NULL},
        {AZIDT_ROUTE_VALIDATE_AZIDT, AZIDT_GROUP, AZIDT_KIND,
         azidt_handle_azidt_validate, handlers, validate_needs_worker},
        {AZIDT_ROUTE_MUTATE_PODS, "", "Pod", azidt_handle_pod_mutate, handlers,
         NULL},
        {AZIDT_ROUTE_VALIDATE_PODS, "", "Pod", azidt_handle_pod_validate,
         handlers, NULL},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        azidt_err rc = azidt_server_add_route(server, &routes[i]);

        if (rc)
            return rc;
    }
    return AZIDT_OK;
}

/* Block the stop signals in every thread, so that only sigwait() in the
 * main thread receives them. Must run before any thread starts. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    /* A peer that closes early must not kill the process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
}

/* Build the role policy from the configuration. Without
 * --allowed-scope-prefixes, scopes must lie in a resource group of
 * AZURE_SUBSCRIPTION_ID (the subscription the provisioner uses). */
static azidt_err build_role_policy(const struct azidt_policy_config *cfg,
                                   struct azidt_role_policy **out)
{
    const char *subscription = getenv("AZURE_SUBSCRIPTION_ID");
    char prefix[256] = "";
    char err[512];
    azidt_err rc;

    if (cfg->allowed_scope_prefixes)
        snprintf(prefix, sizeof(prefix), "%s", cfg->allowed_scope_prefixes);
    else if (subscription && *subscription)
        snprintf(prefix, sizeof(prefix),
                 "/subscriptions/%.100s/resourceGroups/", subscription);
    else
        AZIDT_LOG_WARN("AZURE_SUBSCRIPTION_ID is not set and neither is "
                       "--allowed-scope-prefixes: role assignment scopes are "
                       "not limited to a subscription");
    rc = azidt_role_policy_new(
        cfg->denied_roles, cfg->allowed_roles,
        cfg->allowed_scope_prefixes ? cfg->allowed_scope_prefixes : prefix, out,
        err, sizeof(err));
    if (rc)
        AZIDT_LOG_ERROR("invalid role policy; fix --allowed-scope-prefixes "
                        "(AZIDT_ALLOWED_SCOPE_PREFIXES)",
                        "error", err);
    return rc;
}

static const char *getenv_wrapper(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    struct azidt_config cfg;
    struct azidt_handler_ctx handlers;
    struct azidt_tls_store *store = NULL;
    struct azidt_client_auth *client_auth = NULL;
    struct azidt_server *server = NULL;
    struct azidt_identity_service *identity = NULL;
    struct azidt_role_policy *policy = NULL;
    char err[1024];
    sigset_t stop_signals;
    int signal_number = 0;
    int status = EXIT_FAILURE;

    if (azidt_config_init(&cfg)) {
        fprintf(stderr, "azidt-webhook: out of memory\n");
        return EXIT_FAILURE;
    }
    if (azidt_config_parse(&cfg, argc, argv, getenv_wrapper, err,
                           sizeof(err))) {
        fprintf(stderr, "azidt-webhook: %s\n", err);
        goto out;
    }
    if (cfg.show_help) {
        azidt_config_print_help(stdout, "azidt-webhook");
        status = EXIT_SUCCESS;
        goto out;
    }
    if (cfg.show_version) {
        printf("azidt-webhook %s\n", AZIDT_PROGRAM_VERSION);
        status = EXIT_SUCCESS;
        goto out;
    }
    azidt_log_set_level(cfg.log_level);
    block_stop_signals(&stop_signals);
    raise_file_limit(&cfg.server.max_connections);

    if (azidt_tls_store_create(cfg.server.tls_cert_file,
                               cfg.server.tls_key_file, &store, err,
                               sizeof(err))) {
        AZIDT_LOG_ERROR("cannot load the serving certificate; set "
                        "--tls-cert-file and --tls-key-file (or "
                        "AZIDT_TLS_CERT_FILE and AZIDT_TLS_KEY_FILE) to a "
                        "readable PEM pair",
                        "error", err);
        goto out;
    }
    if (azidt_tls_store_start(store, cfg.server.cert_reload_interval_ms,
                              cfg.server.idle_timeout_ms +
                                  CERT_GRACE_EXTRA_MS)) {
        AZIDT_LOG_ERROR("cannot start the certificate watcher thread");
        goto out;
    }
    if (cfg.server.client_ca_file &&
        (azidt_client_auth_create(cfg.server.client_ca_file,
                                  cfg.server.client_cert_names, &client_auth,
                                  err, sizeof(err)) ||
         azidt_client_auth_start(client_auth,
                                 cfg.server.cert_reload_interval_ms))) {
        AZIDT_LOG_ERROR("cannot load the client CA file; set "
                        "--client-ca-file to a readable PEM file of CA "
                        "certificates, or leave it unset",
                        "error", err);
        goto out;
    }
    if (!cfg.server.client_ca_file && cfg.server.client_cert_names)
        AZIDT_LOG_WARN("--client-cert-names has no effect without "
                       "--client-ca-file");

    if (build_role_policy(&cfg.policy, &policy))
        goto out;
    azidt_handler_ctx_init(&handlers);
    handlers.not_ready_pods = cfg.pods.not_ready;
    handlers.role_policy = policy;
    if (cfg.identity.enabled) {
        if (azidt_identity_service_start(&cfg.identity, policy, &identity, err,
                                         sizeof(err))) {
            AZIDT_LOG_ERROR("cannot start provisioning; fix the setting "
                            "named in the error, or run with "
                            "--provisioning=disabled to validate only",
                            "error", err);
            goto out;
        }
        handlers.provisioner = azidt_identity_service_provisioner(identity);
        handlers.undo_reserve_ms = cfg.identity.undo_reserve_ms;
        handlers.identities = azidt_identity_service_identities(identity);
    } else {
        AZIDT_LOG_WARN("provisioning is disabled: AzureIdentityTerminators "
                       "are validated but no Azure identities are created, "
                       "and pods are admitted without identity checks");
    }
    if (azidt_server_create(&cfg.server, store, &server) ||
        add_routes(server, &handlers) ||
        (identity && azidt_server_add_ready_check(server, "controller",
                                                  azidt_identity_service_ready,
                                                  identity)) ||
        (handlers.identities &&
         azidt_server_add_ready_check(server, "identity-cache",
                                      azidt_identity_cache_ready,
                                      handlers.identities))) {
        AZIDT_LOG_ERROR("cannot set up the server routes");
        goto out;
    }
    azidt_server_set_client_auth(server, client_auth);
    if (azidt_server_start(server, err, sizeof(err))) {
        AZIDT_LOG_ERROR("cannot start the HTTPS server", "error", err);
        goto out;
    }

    sigwait(&stop_signals, &signal_number);
    AZIDT_LOG_INFO("shutting down", "signal", strsignal(signal_number));
    azidt_server_shutdown(server, cfg.server.shutdown_timeout_ms);
    status = EXIT_SUCCESS;

out:
    azidt_server_destroy(server);
    azidt_identity_service_stop(identity);
    azidt_client_auth_destroy(client_auth);
    azidt_tls_store_destroy(store);
    azidt_role_policy_free(policy);
    azidt_config_free(&cfg);
    return status;
}
