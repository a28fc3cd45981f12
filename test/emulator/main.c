/*
 * azidt-azure-emulator: an HTTPS emulator of the Entra token endpoint,
 * Microsoft Graph and Azure Resource Manager for tests and demos. See
 * docs/emulator.md.
 */
#include "emulator.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azidt/log.h"

struct options {
    const char *config;
    const char *env_file;
    const char *ca_out;
    const char *ca_cert;
    const char *ca_key;
    uint16_t ports[EMU_SERVICE_COUNT];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: azidt-azure-emulator --config FILE --env-file FILE "
            "[options]\n"
            "\n"
            "Serve the Entra token endpoint, Microsoft Graph and Azure "
            "Resource Manager\n"
            "over HTTPS on 127.0.0.1, plus an admin endpoint.\n"
            "\n"
            "  --config FILE       seed configuration (JSON)\n"
            "  --env-file FILE     write AZURE_* settings here once ready\n"
            "  --ca-file FILE      write the CA certificate here (default: "
            "next to the env file)\n"
            "  --ca-cert FILE      sign with this CA certificate (PEM) "
            "instead of a new one\n"
            "  --ca-key FILE       private key of --ca-cert (PEM)\n"
            "  --token-port N      authority host port (default 0: any "
            "free port)\n"
            "  --graph-port N      Microsoft Graph port (default 0)\n"
            "  --arm-port N        Azure Resource Manager port (default 0)\n"
            "  --admin-port N      admin port (default 0)\n"
            "  --log-level LEVEL   debug, info, warn or error (default "
            "info)\n");
}

static bool parse_port(const char *text, uint16_t *port)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < 0 || value > 65535)
        return false;
    *port = (uint16_t)value;
    return true;
}

static bool parse_args(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"env-file", required_argument, NULL, 'e'},
        {"ca-file", required_argument, NULL, 'f'},
        {"ca-cert", required_argument, NULL, 'C'},
        {"ca-key", required_argument, NULL, 'K'},
        {"token-port", required_argument, NULL, 't'},
        {"graph-port", required_argument, NULL, 'g'},
        {"arm-port", required_argument, NULL, 'a'},
        {"admin-port", required_argument, NULL, 'm'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    enum azidt_log_level level;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->config = optarg;
            break;
        case 'e':
            opt->env_file = optarg;
            break;
        case 'f':
            opt->ca_out = optarg;
            break;
        case 'C':
            opt->ca_cert = optarg;
            break;
        case 'K':
            opt->ca_key = optarg;
            break;
        case 't':
        case 'g':
        case 'a':
        case 'm': {
            enum emu_service s = c == 't'   ? EMU_TOKEN
                                 : c == 'g' ? EMU_GRAPH
                                 : c == 'a' ? EMU_ARM
                                            : EMU_ADMIN;

            if (!parse_port(optarg, &opt->ports[s])) {
                fprintf(stderr, "invalid port '%s': expected 0 to 65535\n",
                        optarg);
                return false;
            }
            break;
        }
        case 'l':
            if (azidt_log_parse_level(optarg, &level) != AZIDT_OK) {
                fprintf(stderr,
                        "invalid --log-level '%s': expected debug, info, "
                        "warn or error\n",
                        optarg);
                return false;
            }
            azidt_log_set_level(level);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return false;
        }
    }
    if (!opt->config || !opt->env_file || (!opt->ca_cert != !opt->ca_key)) {
        usage(stderr);
        return false;
    }
    return true;
}

/* The caller application whose credentials go into the env file: the one
 * marked "caller": true, else the first. */
static const cJSON *caller_app(void)
{
    const cJSON *apps = cJSON_GetObjectItem(emu.config, "applications");
    const cJSON *app;

    cJSON_ArrayForEach(app, apps)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(app, "caller")))
            return app;
    }
    return cJSON_GetArrayItem(apps, 0);
}

static bool write_env_file(const char *path)
{
    const cJSON *app = caller_app();
    const cJSON *secret =
        cJSON_GetArrayItem(cJSON_GetObjectItem(app, "secrets"), 0);
    const char *app_id =
        cJSON_GetStringValue(cJSON_GetObjectItem(app, "appId"));
    const char *text =
        cJSON_GetStringValue(cJSON_GetObjectItem(secret, "secretText"));
    char *tmp = emu_printf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok;

    if (!f) {
        AZIDT_LOG_ERROR("failed to write the env file", "path", tmp);
        free(tmp);
        return false;
    }
    fprintf(f,
            "AZURE_AUTHORITY_HOST=%s\n"
            "AZURE_GRAPH_ENDPOINT=%s\n"
            "AZURE_ARM_ENDPOINT=%s\n"
            "AZURE_CA_FILE=%s\n"
            "AZURE_TENANT_ID=%s\n"
            "AZURE_CLIENT_ID=%s\n"
            "AZURE_CLIENT_SECRET=%s\n"
            "AZURE_SUBSCRIPTION_ID=%s\n"
            "AZURE_EMULATOR_ADMIN_URL=%s\n",
            emu.urls[EMU_TOKEN], emu.urls[EMU_GRAPH], emu.urls[EMU_ARM],
            emu.ca_file, emu.tenant, app_id ? app_id : "", text ? text : "",
            emu.subscription, emu.urls[EMU_ADMIN]);
    ok = fclose(f) == 0 && rename(tmp, path) == 0;
    if (!ok)
        AZIDT_LOG_ERROR("failed to write the env file", "path", path);
    free(tmp);
    return ok;
}

static char *default_ca_path(const char *env_file)
{
    const char *slash = strrchr(env_file, '/');

    if (!slash)
        return emu_strdup("emulator-ca.pem");
    return emu_printf("%.*s/emulator-ca.pem", (int)(slash - env_file),
                      env_file);
}

static bool make_signing_key(void)
{
    unsigned char raw[12];
    char *kid;

    emu.signing_key = emu_rsa_generate(2048);
    if (!emu.signing_key)
        return false;
    RAND_bytes(raw, sizeof(raw));
    kid = emu_b64url_encode(raw, sizeof(raw));
    snprintf(emu.signing_kid, sizeof(emu.signing_kid), "%s", kid);
    free(kid);
    return true;
}

int main(int argc, char **argv)
{
    struct options opt = {0};
    struct MHD_Daemon *daemons[EMU_SERVICE_COUNT] = {0};
    char *cert = NULL, *key = NULL;
    sigset_t signals;
    int sig = 0, rc = 1, i;
    uint16_t port;

    if (!parse_args(argc, argv, &opt))
        return 2;
    /* Block the stop signals before threads start, so they inherit the
     * mask and sigwait below receives them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    emu.ca_file =
        opt.ca_out ? emu_strdup(opt.ca_out) : default_ca_path(opt.env_file);
    if (!emu_store_init(opt.config) || !make_signing_key() ||
        !emu_tls_setup(opt.ca_cert, opt.ca_key, emu.ca_file, &cert, &key))
        goto out;
    for (i = 0; i < EMU_SERVICE_COUNT; i++) {
        daemons[i] =
            emu_http_start((enum emu_service)i, opt.ports[i], cert, key, &port);
        if (!daemons[i]) {
            char text[8];

            snprintf(text, sizeof(text), "%u", opt.ports[i]);
            AZIDT_LOG_ERROR("failed to listen; is the port in use?", "service",
                            emu_service_name((enum emu_service)i), "port",
                            text);
            goto out;
        }
        emu.urls[i] = emu_printf("https://127.0.0.1:%u", port);
    }
    if (!write_env_file(opt.env_file))
        goto out;
    AZIDT_LOG_INFO("azure emulator ready", "authority", emu.urls[EMU_TOKEN],
                   "graph", emu.urls[EMU_GRAPH], "arm", emu.urls[EMU_ARM],
                   "admin", emu.urls[EMU_ADMIN], "env_file", opt.env_file);

    while (sigwait(&signals, &sig) != 0)
        ;
    AZIDT_LOG_INFO("azure emulator stopping", "signal", strsignal(sig));
    unlink(opt.env_file);
    rc = 0;
out:
    for (i = 0; i < EMU_SERVICE_COUNT; i++) {
        if (daemons[i])
            MHD_stop_daemon(daemons[i]);
        free(emu.urls[i]);
    }
    if (key)
        OPENSSL_cleanse(key, strlen(key));
    free(cert);
    free(key);
    pthread_mutex_lock(&emu.lock);
    emu_faults_clear();
    emu_calls_clear();
    emu_store_free();
    pthread_mutex_unlock(&emu.lock);
    EVP_PKEY_free(emu.signing_key);
    free(emu.ca_file);
    return rc;
}
