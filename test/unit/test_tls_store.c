#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azidt/tls_store.h"

/* Scratch directory with two certificate pairs made by openssl(1). */
static char dir[] = "/tmp/azidt-tls-store-XXXXXX";

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void run(const char *command)
{
    ck_assert_msg(system(command) == 0, "command failed: %s", command);
}

/* Create <name>.crt and <name>.key with the given serial number. */
static void make_pair(const char *name, const char *serial)
{
    char command[1024];

    snprintf(command, sizeof(command),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=azidt-test -set_serial %s "
             "-keyout %s/%s.key -out %s/%s.crt 2>/dev/null",
             serial, dir, name, dir, name);
    run(command);
}

/* Copy src over dst through a rename, as a Secret volume update does. */
static void replace_file(const char *src, const char *dst)
{
    char command[1024];

    snprintf(command, sizeof(command), "cp %s/%s %s/tmp && mv %s/tmp %s/%s",
             dir, src, dir, dir, dir, dst);
    run(command);
}

static void setup_dir(void)
{
    char path[256];
    FILE *file;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_pair("a", "0x0a11");
    make_pair("b", "0x0b22");
    path_in_dir(path, sizeof(path), "garbage.crt");
    file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n", file);
    fclose(file);
}

static void remove_dir(void)
{
    char command[300];

    snprintf(command, sizeof(command), "rm -rf %s", dir);
    run(command);
}

/* Each pair of files and the result azidt_tls_store_validate() gives. */
static const struct {
    const char *cert;
    const char *key;
    azidt_err expected;
    const char *message; /* part of the error text, or NULL */
} validate_cases[] = {
    {"a.crt", "a.key", AZIDT_OK, NULL},
    {"b.crt", "b.key", AZIDT_OK, NULL},
    {"a.crt", "b.key", AZIDT_ERR_TLS, "does not belong to the certificate"},
    {"garbage.crt", "a.key", AZIDT_ERR_TLS, "cannot parse certificate"},
    {"a.crt", "garbage.crt", AZIDT_ERR_TLS, "cannot parse private key"},
    {"missing.crt", "a.key", AZIDT_ERR_IO, "missing.crt"},
    {"a.crt", "missing.key", AZIDT_ERR_IO, "missing.key"},
};

START_TEST(tls_store_validates_pair)
{
    char cert[256];
    char key[256];
    char err[512] = "";

    path_in_dir(cert, sizeof(cert), validate_cases[_i].cert);
    path_in_dir(key, sizeof(key), validate_cases[_i].key);
    ck_assert_int_eq(azidt_tls_store_validate(cert, key, err, sizeof(err)),
                     validate_cases[_i].expected);
    if (validate_cases[_i].message)
        ck_assert_msg(strstr(err, validate_cases[_i].message),
                      "\"%s\" lacks \"%s\"", err, validate_cases[_i].message);
}
END_TEST

/* Create a store on served.crt/served.key, first filled from pair a. */
static struct azidt_tls_store *make_store(void)
{
    struct azidt_tls_store *store = NULL;
    char cert[256];
    char key[256];
    char err[512];

    replace_file("a.crt", "served.crt");
    replace_file("a.key", "served.key");
    path_in_dir(cert, sizeof(cert), "served.crt");
    path_in_dir(key, sizeof(key), "served.key");
    ck_assert_int_eq(
        azidt_tls_store_create(cert, key, &store, err, sizeof(err)), AZIDT_OK);
    return store;
}

START_TEST(tls_store_reports_serial)
{
    struct azidt_tls_store *store = make_store();
    char serial[80];

    azidt_tls_store_serial(store, serial, sizeof(serial));
    ck_assert_str_eq(serial, "0a11");
    ck_assert_int_eq(azidt_tls_store_check(store), AZIDT_OK);
    ck_assert_uint_eq(azidt_tls_store_reloads(store), 0);
    azidt_tls_store_destroy(store);
}
END_TEST

START_TEST(tls_store_reloads_new_pair)
{
    struct azidt_tls_store *store = make_store();
    char serial[80];

    replace_file("b.key", "served.key");
    replace_file("b.crt", "served.crt");
    ck_assert_int_eq(azidt_tls_store_check(store), AZIDT_OK);
    ck_assert_uint_eq(azidt_tls_store_reloads(store), 1);
    azidt_tls_store_serial(store, serial, sizeof(serial));
    ck_assert_str_eq(serial, "0b22");
    azidt_tls_store_destroy(store);
}
END_TEST

START_TEST(tls_store_keeps_pair_on_mismatch)
{
    struct azidt_tls_store *store = make_store();
    char serial[80];

    replace_file("b.key", "served.key");
    ck_assert_int_eq(azidt_tls_store_check(store), AZIDT_ERR_TLS);
    ck_assert_uint_eq(azidt_tls_store_reloads(store), 0);
    azidt_tls_store_serial(store, serial, sizeof(serial));
    ck_assert_str_eq(serial, "0a11");
    /* The matching certificate arrives later: the pair is taken then. */
    replace_file("b.crt", "served.crt");
    ck_assert_int_eq(azidt_tls_store_check(store), AZIDT_OK);
    azidt_tls_store_serial(store, serial, sizeof(serial));
    ck_assert_str_eq(serial, "0b22");
    azidt_tls_store_destroy(store);
}
END_TEST

START_TEST(tls_store_keeps_pair_on_garbage)
{
    struct azidt_tls_store *store = make_store();
    char serial[80];

    replace_file("garbage.crt", "served.crt");
    ck_assert_int_eq(azidt_tls_store_check(store), AZIDT_ERR_TLS);
    azidt_tls_store_serial(store, serial, sizeof(serial));
    ck_assert_str_eq(serial, "0a11");
    azidt_tls_store_destroy(store);
}
END_TEST

START_TEST(tls_store_retrieve_serves_current)
{
    struct azidt_tls_store *store = make_store();
    gnutls_pcert_st *pcert = NULL;
    unsigned count = 0;
    gnutls_privkey_t key = NULL;

    ck_assert_int_eq(
        azidt_tls_store_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &count, &key),
        -1);
    azidt_tls_store_install(store);
    ck_assert_int_eq(
        azidt_tls_store_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &count, &key),
        0);
    ck_assert_ptr_nonnull(pcert);
    ck_assert_uint_eq(count, 1);
    ck_assert_ptr_nonnull(key);
    azidt_tls_store_destroy(store);
}
END_TEST

START_TEST(tls_store_watcher_reloads)
{
    struct azidt_tls_store *store = make_store();
    char serial[80] = "";

    ck_assert_int_eq(azidt_tls_store_start(store, 50, 1000), AZIDT_OK);
    replace_file("b.key", "served.key");
    replace_file("b.crt", "served.crt");
    for (int i = 0; i < 100 && strcmp(serial, "0b22") != 0; i++) {
        usleep(20000);
        azidt_tls_store_serial(store, serial, sizeof(serial));
    }
    ck_assert_str_eq(serial, "0b22");
    azidt_tls_store_destroy(store);
}
END_TEST

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

int main(void)
{
    Suite *suite = suite_create("tls_store");
    TCase *tc = tcase_create("tls_store");
    SRunner *runner;
    int failed;

    tcase_add_unchecked_fixture(tc, setup_dir, remove_dir);
    tcase_add_loop_test(tc, tls_store_validates_pair, 0, COUNT(validate_cases));
    tcase_add_test(tc, tls_store_reports_serial);
    tcase_add_test(tc, tls_store_reloads_new_pair);
    tcase_add_test(tc, tls_store_keeps_pair_on_mismatch);
    tcase_add_test(tc, tls_store_keeps_pair_on_garbage);
    tcase_add_test(tc, tls_store_retrieve_serves_current);
    tcase_add_test(tc, tls_store_watcher_reloads);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    /* Fork mode would run each test in a child; the tests share files, so
     * run them in order in one process. */
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
