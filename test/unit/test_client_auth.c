#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/client_auth.h"

/* Scratch directory with two CA certificates made by openssl(1). */
static char dir[] = "/tmp/azidt-client-auth-XXXXXX";

static void run(const char *command)
{
    ck_assert_msg(system(command) == 0, "command failed: %s", command);
}

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void setup_dir(void)
{
    char command[1024];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(command, sizeof(command),
             "cd %s && for n in one two; do openssl req -x509 -newkey ec "
             "-pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=$n "
             "-keyout $n.key -out $n.crt 2>/dev/null || exit 1; done && "
             "cat one.crt two.crt > both.crt && "
             "printf 'no certificate here\\n' > garbage.crt && "
             "cp one.crt trusted.crt",
             dir);
    run(command);
}

static void remove_dir(void)
{
    char command[300];

    snprintf(command, sizeof(command), "rm -rf %s", dir);
    run(command);
}

/* Each CA file and name list, and the result of creating a store. */
static const struct {
    const char *file;
    const char *names;
    azidt_err expected;
} create_cases[] = {
    {"one.crt", NULL, AZIDT_OK},
    {"both.crt", "", AZIDT_OK},
    {"one.crt", "kube-apiserver", AZIDT_OK},
    {"one.crt", " a , b,c ", AZIDT_OK},
    {"one.crt", "a,,b", AZIDT_ERR_CONFIG},
    {"one.crt", ",", AZIDT_ERR_CONFIG},
    {"one.crt", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", AZIDT_ERR_CONFIG},
    {"garbage.crt", NULL, AZIDT_ERR_TLS},
    {"missing.crt", NULL, AZIDT_ERR_IO},
};

START_TEST(client_auth_create_cases)
{
    struct azidt_client_auth *auth = NULL;
    char path[256];
    char err[512] = "";
    azidt_err rc;

    path_in_dir(path, sizeof(path), create_cases[_i].file);
    rc = azidt_client_auth_create(path, create_cases[_i].names, &auth, err,
                                  sizeof(err));
    ck_assert_msg(rc == create_cases[_i].expected,
                  "%s with names \"%s\": got %d (%s)", create_cases[_i].file,
                  create_cases[_i].names ? create_cases[_i].names : "(null)",
                  rc, err);
    ck_assert(rc == AZIDT_OK ? auth != NULL : auth == NULL);
    if (rc != AZIDT_OK)
        ck_assert_str_ne(err, "");
    azidt_client_auth_destroy(auth);
}
END_TEST

START_TEST(client_auth_no_session_rejected)
{
    struct azidt_client_auth *auth = NULL;
    char path[256];
    char err[512];
    char why[256] = "";

    path_in_dir(path, sizeof(path), "one.crt");
    ck_assert_int_eq(
        azidt_client_auth_create(path, NULL, &auth, err, sizeof(err)),
        AZIDT_OK);
    ck_assert(!azidt_client_auth_verify(auth, NULL, why, sizeof(why)));
    ck_assert_str_eq(why, "no client certificate was sent");
    azidt_client_auth_destroy(auth);
}
END_TEST

/* A new file without a certificate is rejected, a good one is loaded. */
START_TEST(client_auth_check_reloads)
{
    struct azidt_client_auth *auth = NULL;
    char path[256];
    char command[768];
    char err[512];

    path_in_dir(path, sizeof(path), "trusted.crt");
    ck_assert_int_eq(
        azidt_client_auth_create(path, NULL, &auth, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_int_eq(azidt_client_auth_check(auth), AZIDT_OK);

    snprintf(command, sizeof(command),
             "cd %s && cp garbage.crt tmp && mv tmp trusted.crt", dir);
    run(command);
    ck_assert_int_eq(azidt_client_auth_check(auth), AZIDT_ERR_TLS);
    /* The same bad file is reported once, not at every check. */
    ck_assert_int_eq(azidt_client_auth_check(auth), AZIDT_OK);

    snprintf(command, sizeof(command),
             "cd %s && cp two.crt tmp && mv tmp trusted.crt", dir);
    run(command);
    ck_assert_int_eq(azidt_client_auth_check(auth), AZIDT_OK);
    azidt_client_auth_destroy(auth);
}
END_TEST

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

int main(void)
{
    Suite *suite = suite_create("client_auth");
    TCase *tc = tcase_create("client_auth");
    SRunner *runner;
    int failed;

    tcase_add_unchecked_fixture(tc, setup_dir, remove_dir);
    tcase_add_loop_test(tc, client_auth_create_cases, 0, COUNT(create_cases));
    tcase_add_test(tc, client_auth_no_session_rejected);
    tcase_add_test(tc, client_auth_check_reloads);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    /* The tests share files, so run them in order in one process. */
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
