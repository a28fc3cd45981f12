#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azidt/kubeconfig.h"

/* base64 of "CA-PEM", "CERT-PEM" and "KEY-PEM". */
#define CA_B64 "Q0EtUEVN"
#define CERT_B64 "Q0VSVC1QRU0="
#define KEY_B64 "S0VZLVBFTQ=="

static const char inline_config[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: main\n"
    "clusters:\n"
    "- name: local\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: other\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:443\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: main\n"
    "  context:\n"
    "    cluster: local\n"
    "    user: admin\n"
    "    namespace: team-a\n"
    "- name: second\n"
    "  context:\n"
    "    cluster: other\n"
    "    user: robot\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "- name: robot\n"
    "  user:\n"
    "    token: abc.def\n";

static struct azidt_kubeconfig *parse_ok(const char *text, const char *ctx)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    azidt_err rc = azidt_kubeconfig_parse(
        text, strlen(text), "/etc/kube/config", ctx, &cfg, err, sizeof(err));

    ck_assert_msg(rc == AZIDT_OK, "parse failed: %s", err);
    return cfg;
}

START_TEST(kubeconfig_inline_data)
{
    struct azidt_kubeconfig *cfg = parse_ok(inline_config, NULL);

    ck_assert_str_eq(cfg->server, "https://127.0.0.1:6443");
    ck_assert_str_eq(cfg->ca_pem, "CA-PEM");
    ck_assert_uint_eq(cfg->ca_pem_len, 6);
    ck_assert_str_eq(cfg->client_cert_pem, "CERT-PEM");
    ck_assert_str_eq(cfg->client_key_pem, "KEY-PEM");
    ck_assert_ptr_null(cfg->token);
    ck_assert_str_eq(cfg->namespace, "team-a");
    ck_assert(!cfg->insecure_skip_tls_verify);
    azidt_kubeconfig_free(cfg);
}
END_TEST

START_TEST(kubeconfig_named_context)
{
    struct azidt_kubeconfig *cfg = parse_ok(inline_config, "second");
    char *token = NULL;

    ck_assert_str_eq(cfg->server, "https://10.0.0.1:443");
    ck_assert(cfg->insecure_skip_tls_verify);
    ck_assert_ptr_null(cfg->ca_pem);
    ck_assert_ptr_null(cfg->client_cert_pem);
    ck_assert_str_eq(cfg->namespace, "default");
    ck_assert_int_eq(azidt_kubeconfig_token(cfg, &token), AZIDT_OK);
    ck_assert_str_eq(token, "abc.def");
    azidt_kubeconfig_token_free(token);
    azidt_kubeconfig_free(cfg);
}
END_TEST

/* Each case must fail with AZIDT_ERR_CONFIG and a message naming the key. */
static const struct {
    const char *name;
    const char *yaml;
    const char *context;
    const char *message_part;
} bad_cases[] = {
    {"no current-context", "clusters: []\ncontexts: []\n", NULL,
     "current-context"},
    {"unknown context", "current-context: x\ncontexts: []\n", NULL,
     "context \"x\" not found"},
    {"unknown named context", "current-context: x\ncontexts: []\n", "y",
     "context \"y\" not found"},
    {"context without cluster",
     "current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", NULL,
     "has no cluster"},
    {"missing cluster",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
     NULL, "cluster \"c\" (from context \"x\") not found"},
    {"missing user",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, "
     "user: u}\nclusters:\n- name: c\n  cluster: {server: "
     "https://h:1}\n",
     NULL, "user \"u\" (from context \"x\") not found"},
    {"missing server",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- name: c\n  cluster: {insecure-skip-tls-verify: true}\n",
     NULL, "has no server"},
    {"server without scheme",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- name: c\n  cluster: {server: h:1}\n",
     NULL, "without a scheme"},
    {"bad base64",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- name: c\n  cluster: {server: https://h:1, "
     "certificate-authority-data: 'not*base64'}\n",
     NULL, "invalid base64 in certificate-authority-data"},
    {"truncated base64",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- name: c\n  cluster: {server: https://h:1, "
     "certificate-authority-data: Q0EtUEV}\n",
     NULL, "invalid base64"},
    {"cert without key",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, "
     "user: u}\nclusters:\n- name: c\n  cluster: {server: https://h:1}\n"
     "users:\n- name: u\n  user: {client-certificate-data: " CERT_B64 "}\n",
     NULL, "without a client key"},
    {"exec plugin",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, "
     "user: u}\nclusters:\n- name: c\n  cluster: {server: https://h:1}\n"
     "users:\n- name: u\n  user: {exec: {command: aws}}\n",
     NULL, "exec or auth-provider"},
    {"missing file",
     "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- name: c\n  cluster: {server: https://h:1, "
     "certificate-authority: /nonexistent/ca.crt}\n",
     NULL, "cannot read certificate-authority file /nonexistent/ca.crt"},
    {"not a mapping", "- a\n- b\n", NULL, "not a YAML mapping"},
    {"invalid yaml", "a: [b\n", NULL, "invalid YAML"},
};

START_TEST(kubeconfig_rejects_bad)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    azidt_err rc = azidt_kubeconfig_parse(
        bad_cases[_i].yaml, strlen(bad_cases[_i].yaml), "/etc/kube/config",
        bad_cases[_i].context, &cfg, err, sizeof(err));

    ck_assert_msg(rc == AZIDT_ERR_CONFIG || rc == AZIDT_ERR_IO, "%s: rc %d",
                  bad_cases[_i].name, rc);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, bad_cases[_i].message_part) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", bad_cases[_i].name, err,
                  bad_cases[_i].message_part);
    ck_assert_msg(strstr(err, "/etc/kube/config") != NULL ||
                      strstr(err, "/nonexistent") != NULL,
                  "%s: message \"%s\" lacks the file", bad_cases[_i].name, err);
}
END_TEST

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/azidt-kubeconfig-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(kubeconfig_file_refs)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    char path[256];
    char *token = NULL;

    make_tmpdir();
    write_file("ca.crt", "CA FILE");
    write_file("client.crt", "CERT FILE");
    write_file("client.key", "KEY FILE");
    write_file("token", "tok-1\n");
    write_file("config",
               "current-context: x\n"
               "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
               "clusters:\n- name: c\n  cluster:\n"
               "    server: https://h:1\n"
               "    certificate-authority: ca.crt\n"
               "users:\n- name: u\n  user:\n"
               "    client-certificate: client.crt\n"
               "    client-key: client.key\n"
               "    tokenFile: token\n");
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    ck_assert_int_eq(
        azidt_kubeconfig_load_file(path, NULL, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(cfg->ca_pem, "CA FILE");
    ck_assert_str_eq(cfg->client_cert_pem, "CERT FILE");
    ck_assert_str_eq(cfg->client_key_pem, "KEY FILE");
    ck_assert_int_eq(azidt_kubeconfig_token(cfg, &token), AZIDT_OK);
    ck_assert_str_eq(token, "tok-1");
    azidt_kubeconfig_token_free(token);
    azidt_kubeconfig_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(kubeconfig_missing_file)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];

    ck_assert_int_eq(azidt_kubeconfig_load_file("/nonexistent/config", NULL,
                                                &cfg, err, sizeof(err)),
                     AZIDT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/config"));
}
END_TEST

START_TEST(kubeconfig_in_cluster)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    char *token = NULL;
    char path[256];

    make_tmpdir();
    write_file("ca.crt", "CLUSTER CA");
    write_file("token", "first-token\n");
    write_file("namespace", "azidt-system\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(
        azidt_kubeconfig_load_in_cluster(tmpdir, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(cfg->server, "https://10.96.0.1:443");
    ck_assert_str_eq(cfg->ca_pem, "CLUSTER CA");
    ck_assert_str_eq(cfg->namespace, "azidt-system");
    ck_assert_int_eq(azidt_kubeconfig_token(cfg, &token), AZIDT_OK);
    ck_assert_str_eq(token, "first-token");
    azidt_kubeconfig_token_free(token);

    /* Rotate the way the kubelet does: write a new file, rename over. */
    write_file("token.new", "second-token-longer\n");
    snprintf(path, sizeof(path), "%s/token", tmpdir);
    {
        char from[256];

        snprintf(from, sizeof(from), "%s/token.new", tmpdir);
        ck_assert_int_eq(rename(from, path), 0);
    }
    ck_assert_int_eq(azidt_kubeconfig_token(cfg, &token), AZIDT_OK);
    ck_assert_str_eq(token, "second-token-longer");
    azidt_kubeconfig_token_free(token);

    /* A token file that vanishes mid-rotation keeps the cached token. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(azidt_kubeconfig_token(cfg, &token), AZIDT_OK);
    ck_assert_str_eq(token, "second-token-longer");
    azidt_kubeconfig_token_free(token);
    azidt_kubeconfig_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(kubeconfig_in_cluster_ipv6)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];

    make_tmpdir();
    write_file("ca.crt", "CA");
    write_file("token", "t");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(
        azidt_kubeconfig_load_in_cluster(tmpdir, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(cfg->server, "https://[fd00::1]:443");
    ck_assert_str_eq(cfg->namespace, "default");
    azidt_kubeconfig_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(kubeconfig_in_cluster_no_env)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];

    unsetenv("KUBERNETES_SERVICE_HOST");
    ck_assert_int_eq(azidt_kubeconfig_load_in_cluster("/nonexistent", &cfg, err,
                                                      sizeof(err)),
                     AZIDT_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_HOST"));
}
END_TEST

START_TEST(kubeconfig_in_cluster_no_token)
{
    struct azidt_kubeconfig *cfg = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];

    make_tmpdir();
    write_file("ca.crt", "CA");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(
        azidt_kubeconfig_load_in_cluster(tmpdir, &cfg, err, sizeof(err)),
        AZIDT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/token"));
    remove_tmpdir();
}
END_TEST

static const struct {
    const char *in;
    const char *out;
} base64_cases[] = {
    {"", ""},
    {"YQ==", "a"},
    {"YWI=", "ab"},
    {"YWJj", "abc"},
    {"YWJj\nZGVm\n", "abcdef"},
};

START_TEST(base64_decodes)
{
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(azidt_kube_base64_decode(base64_cases[_i].in, &out, &len),
                     AZIDT_OK);
    ck_assert_str_eq(out, base64_cases[_i].out);
    ck_assert_uint_eq(len, strlen(base64_cases[_i].out));
    free(out);
}
END_TEST

START_TEST(base64_rejects_garbage)
{
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(azidt_kube_base64_decode("YW$j", &out, &len),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_null(out);
}
END_TEST

static Suite *kubeconfig_suite(void)
{
    Suite *s = suite_create("kubeconfig");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, kubeconfig_inline_data);
    tcase_add_test(tc, kubeconfig_named_context);
    tcase_add_loop_test(tc, kubeconfig_rejects_bad, 0,
                        sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, kubeconfig_file_refs);
    tcase_add_test(tc, kubeconfig_missing_file);
    tcase_add_test(tc, kubeconfig_in_cluster);
    tcase_add_test(tc, kubeconfig_in_cluster_ipv6);
    tcase_add_test(tc, kubeconfig_in_cluster_no_env);
    tcase_add_test(tc, kubeconfig_in_cluster_no_token);
    tcase_add_loop_test(tc, base64_decodes, 0,
                        sizeof(base64_cases) / sizeof(base64_cases[0]));
    tcase_add_test(tc, base64_rejects_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kubeconfig_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
