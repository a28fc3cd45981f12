#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/config.h"

/* Fake environment for the parser: a NULL-terminated list of NAME=VALUE. */
static const char *const *fake_env;

static const char *lookup_env(const char *name)
{
    size_t len = strlen(name);

    for (const char *const *entry = fake_env; entry && *entry; entry++) {
        if (strncmp(*entry, name, len) == 0 && (*entry)[len] == '=')
            return *entry + len + 1;
    }
    return NULL;
}

/* Parse argv (NULL-terminated, program name first) with env. */
static azidt_err parse(struct azidt_config *cfg, const char *const *env,
                       char *const *argv, char *err, size_t errlen)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    fake_env = env;
    ck_assert_int_eq(azidt_config_init(cfg), AZIDT_OK);
    return azidt_config_parse(cfg, argc, argv, lookup_env, err, errlen);
}

START_TEST(config_defaults)
{
    struct azidt_config cfg;
    char *argv[] = {"azidt-webhook", NULL};
    char err[512];

    ck_assert_int_eq(parse(&cfg, NULL, argv, err, sizeof(err)), AZIDT_OK);
    ck_assert_str_eq(cfg.server.listen_address, "0.0.0.0");
    ck_assert_uint_eq(cfg.server.port, 8443);
    ck_assert_uint_eq(cfg.server.max_body_bytes, 6u * 1024 * 1024);
    ck_assert_int_eq(cfg.server.default_timeout_ms, 10000);
    ck_assert_int_eq(cfg.server.tls_min_version, 12);
    ck_assert_int_eq(cfg.log_level, AZIDT_LOG_INFO);
    ck_assert_int_eq(cfg.pods.not_ready, AZIDT_NOT_READY_PODS_DENY);
    ck_assert_int_eq(cfg.server.idle_timeout_ms, 30000);
    ck_assert_uint_eq(cfg.server.max_connections, 1024);
    ck_assert_uint_eq(cfg.server.max_connections_per_ip, 512);
    ck_assert_ptr_null(cfg.server.client_ca_file);
    ck_assert_ptr_null(cfg.server.client_cert_names);
    ck_assert(!cfg.show_help);
    ck_assert_str_eq(cfg.policy.denied_roles, AZIDT_DEFAULT_DENIED_ROLES);
    ck_assert_ptr_null(cfg.policy.allowed_roles);
    ck_assert_ptr_null(cfg.policy.allowed_scope_prefixes);
    azidt_config_free(&cfg);
}
END_TEST

START_TEST(config_policy_lists)
{
    struct azidt_config cfg;
    char *argv[] = {"azidt-webhook", "--denied-roles=",    "--allowed-roles",
                    "Reader",        "--orphan-grace=30s", NULL};
    char err[512];

    ck_assert_int_eq(parse(&cfg, NULL, argv, err, sizeof(err)), AZIDT_OK);
    ck_assert_str_eq(cfg.policy.denied_roles, "");
    ck_assert_str_eq(cfg.policy.allowed_roles, "Reader");
    ck_assert_int_eq(cfg.identity.orphan_grace_ms, 30000);
    azidt_config_free(&cfg);
}
END_TEST

START_TEST(config_env_sets_values)
{
    static const char *const env[] = {"AZIDT_LISTEN_ADDRESS=127.0.0.1",
                                      "AZIDT_PORT=9443",
                                      "AZIDT_MAX_BODY_BYTES=64Ki",
                                      "AZIDT_DEFAULT_TIMEOUT=1500ms",
                                      "AZIDT_LOG_LEVEL=debug",
                                      "AZIDT_SLOW_WORKERS=3",
                                      "AZIDT_TLS_MIN_VERSION=1.3",
                                      "AZIDT_NOT_READY_PODS=warn",
                                      "AZIDT_MAX_CONNECTIONS=300",
                                      "AZIDT_MAX_CONNECTIONS_PER_IP=0",
                                      "AZIDT_CLIENT_CA_FILE=/etc/ca.crt",
                                      "AZIDT_CLIENT_CERT_NAMES=a,b",
                                      NULL};
    struct azidt_config cfg;
    char *argv[] = {"azidt-webhook", NULL};
    char err[512];

    ck_assert_int_eq(parse(&cfg, env, argv, err, sizeof(err)), AZIDT_OK);
    ck_assert_str_eq(cfg.server.listen_address, "127.0.0.1");
    ck_assert_uint_eq(cfg.server.port, 9443);
    ck_assert_uint_eq(cfg.server.max_body_bytes, 65536);
    ck_assert_int_eq(cfg.server.default_timeout_ms, 1500);
    ck_assert_int_eq(cfg.log_level, AZIDT_LOG_DEBUG);
    ck_assert_uint_eq(cfg.server.slow_workers, 3);
    ck_assert_int_eq(cfg.server.tls_min_version, 13);
    ck_assert_int_eq(cfg.pods.not_ready, AZIDT_NOT_READY_PODS_WARN);
    ck_assert_uint_eq(cfg.server.max_connections, 300);
    ck_assert_uint_eq(cfg.server.max_connections_per_ip, 0);
    ck_assert_str_eq(cfg.server.client_ca_file, "/etc/ca.crt");
    ck_assert_str_eq(cfg.server.client_cert_names, "a,b");
    azidt_config_free(&cfg);
}
END_TEST

START_TEST(config_flag_overrides_env)
{
    static const char *const env[] = {"AZIDT_PORT=9443",
                                      "AZIDT_NOT_READY_PODS=warn", NULL};
    struct azidt_config cfg;
    char *argv[] = {"azidt-webhook",
                    "--port",
                    "10443",
                    "--tls-cert-file=/tmp/a.crt",
                    "--not-ready-pods=deny",
                    NULL};
    char err[512];

    ck_assert_int_eq(parse(&cfg, env, argv, err, sizeof(err)), AZIDT_OK);
    ck_assert_int_eq(cfg.pods.not_ready, AZIDT_NOT_READY_PODS_DENY);
    ck_assert_uint_eq(cfg.server.port, 10443);
    ck_assert_str_eq(cfg.server.tls_cert_file, "/tmp/a.crt");
    azidt_config_free(&cfg);
}
END_TEST

START_TEST(config_help_flag)
{
    struct azidt_config cfg;
    char *argv[] = {"azidt-webhook", "--help", NULL};
    char err[512];

    ck_assert_int_eq(parse(&cfg, NULL, argv, err, sizeof(err)), AZIDT_OK);
    ck_assert(cfg.show_help);
    azidt_config_free(&cfg);
}
END_TEST

/* Each bad input and a piece of text its error message must contain. */
static const struct {
    const char *env;  /* NAME=VALUE or NULL */
    const char *flag; /* --name=value or NULL */
    const char *expected;
} bad_cases[] = {
    {"AZIDT_PORT=abc", NULL, "AZIDT_PORT"},
    {"AZIDT_PORT=0", NULL, "from 1 to 65535"},
    {NULL, "--port=70000", "--port"},
    {NULL, "--max-body-bytes=12MB", "suffix Ki, Mi or Gi"},
    {NULL, "--max-body-bytes=10", "from 1024"},
    {NULL, "--default-timeout=10", "units h, m, s or ms"},
    {NULL, "--default-timeout=31s", "--default-timeout"},
    {"AZIDT_LOG_LEVEL=verbose", NULL, "debug, info, warn, error"},
    {NULL, "--tls-min-version=1.1", "1.2 or 1.3"},
    {NULL, "--no-such-flag=1", "unknown flag"},
    {NULL, "--listen-address=", "non-empty"},
    {NULL, "stray", "unexpected argument"},
    {NULL, "--port", "missing value"},
    {NULL, "--not-ready-pods=allow", "deny or warn"},
    {"AZIDT_NOT_READY_PODS=Warn", NULL, "AZIDT_NOT_READY_PODS"},
    {NULL, "--orphan-grace=10s", "from 30s to 24h"},
    {"AZIDT_ORPHAN_GRACE=0s", NULL, "AZIDT_ORPHAN_GRACE"},
};

START_TEST(config_rejects_bad_value)
{
    const char *env[] = {bad_cases[_i].env, NULL};
    char *argv[] = {"azidt-webhook", (char *)bad_cases[_i].flag, NULL};
    struct azidt_config cfg;
    char err[512] = "";

    ck_assert_int_eq(parse(&cfg, env, argv, err, sizeof(err)),
                     AZIDT_ERR_CONFIG);
    ck_assert_msg(strstr(err, bad_cases[_i].expected),
                  "case %d: \"%s\" lacks \"%s\"", _i, err,
                  bad_cases[_i].expected);
    azidt_config_free(&cfg);
}
END_TEST

static const struct {
    const char *text;
    int64_t ms; /* -1 when invalid */
} duration_cases[] = {
    {"10s", 10000},
    {"1500ms", 1500},
    {"2m", 120000},
    {"1h30m", 5400000},
    {"0s", 0},
    {"", -1},
    {"10", -1},
    {"-1s", -1},
    {"1d", -1},
    {"s", -1},
    {"1.5s", -1},
    {"10s ", -1},
    {"99999999999999999999s", -1},
};

START_TEST(config_parses_duration)
{
    int64_t ms = -7;
    azidt_err rc =
        azidt_config_parse_duration_ms(duration_cases[_i].text, INT64_MAX, &ms);

    if (duration_cases[_i].ms < 0) {
        ck_assert_int_eq(rc, AZIDT_ERR_INVALID);
        ck_assert_int_eq(ms, -7);
    } else {
        ck_assert_int_eq(rc, AZIDT_OK);
        ck_assert_int_eq(ms, duration_cases[_i].ms);
    }
}
END_TEST

START_TEST(config_duration_over_max)
{
    int64_t ms = 0;

    ck_assert_int_eq(azidt_config_parse_duration_ms("31s", 30000, &ms),
                     AZIDT_ERR_INVALID);
}
END_TEST

static const struct {
    const char *text;
    long long bytes; /* -1 when invalid */
} size_cases[] = {
    {"1024", 1024},      {"64Ki", 65536}, {"6Mi", 6291456},
    {"1Gi", 1073741824}, {"", -1},        {"6MB", -1},
    {"-1", -1},          {"1 Ki", -1},    {"99999999999999999999", -1},
};

START_TEST(config_parses_size)
{
    size_t bytes = 7;
    azidt_err rc = azidt_config_parse_size(size_cases[_i].text, &bytes);

    if (size_cases[_i].bytes < 0) {
        ck_assert_int_eq(rc, AZIDT_ERR_INVALID);
        ck_assert_uint_eq(bytes, 7);
    } else {
        ck_assert_int_eq(rc, AZIDT_OK);
        ck_assert_uint_eq(bytes, (size_t)size_cases[_i].bytes);
    }
}
END_TEST

START_TEST(config_help_names_each_setting)
{
    static const char *const expected[] = {
        "--listen-address ADDRESS",
        "AZIDT_LISTEN_ADDRESS",
        "--port PORT",
        "AZIDT_PORT",
        "--max-body-bytes BYTES",
        "AZIDT_MAX_BODY_BYTES",
        "--default-timeout",
        "AZIDT_DEFAULT_TIMEOUT",
        "--log-level LEVEL",
        "AZIDT_LOG_LEVEL",
        "--slow-workers COUNT",
        "Default: 6Mi.",
        "--not-ready-pods deny|warn",
        "AZIDT_NOT_READY_PODS",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(out);
    azidt_config_print_help(out, "azidt-webhook");
    fclose(out);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        ck_assert_msg(strstr(text, expected[i]), "help lacks \"%s\"",
                      expected[i]);
    free(text);
}
END_TEST

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

int main(void)
{
    Suite *suite = suite_create("config");
    TCase *tc = tcase_create("config");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_policy_lists);
    tcase_add_test(tc, config_env_sets_values);
    tcase_add_test(tc, config_flag_overrides_env);
    tcase_add_test(tc, config_help_flag);
    tcase_add_test(tc, config_help_names_each_setting);
    tcase_add_loop_test(tc, config_rejects_bad_value, 0, COUNT(bad_cases));
    tcase_add_loop_test(tc, config_parses_duration, 0, COUNT(duration_cases));
    tcase_add_test(tc, config_duration_over_max);
    tcase_add_loop_test(tc, config_parses_size, 0, COUNT(size_cases));
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
