#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/uuid.h"

#define NS_DNS "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define NS_URL "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
#define NS_OID "6ba7b812-9dad-11d1-80b4-00c04fd430c8"

/* Expected values from Python's uuid.uuid5, an independent implementation
 * of RFC 4122 / RFC 9562 version 5. */
static const struct {
    const char *ns;
    const char *name;
    const char *expected;
} v5_cases[] = {
    {NS_DNS, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
    {NS_DNS, "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
    {NS_URL, "http://www.example.com/", "fcde3c85-2270-590f-9e7c-ee003d65e0e2"},
    {NS_URL, "https://azidterminator.io/role-assignments",
     "075c4e4b-9bb6-5f3e-9b4b-9ac7883620db"},
    {NS_OID, "", "0a68eb57-c88a-5f34-9e9d-27f85e68af4f"},
};

START_TEST(uuid_v5_known_vectors)
{
    unsigned char ns[16];
    char out[AZIDT_UUID_TEXT_LEN];

    ck_assert_int_eq(azidt_uuid_parse(v5_cases[_i].ns, ns), AZIDT_OK);
    azidt_uuid_v5(ns, v5_cases[_i].name, strlen(v5_cases[_i].name), out);
    ck_assert_str_eq(out, v5_cases[_i].expected);
}
END_TEST

static const struct {
    const char *text;
    azidt_err expected;
} parse_cases[] = {
    {"6BA7B810-9DAD-11D1-80B4-00C04FD430C8", AZIDT_OK},
    {"6ba7b810-9dad-11d1-80b4-00c04fd430c8", AZIDT_OK},
    {"6ba7b8109dad11d180b400c04fd430c8", AZIDT_ERR_INVALID},
    {"6ba7b810-9dad-11d1-80b4-00c04fd430c", AZIDT_ERR_INVALID},
    {"6ba7b810-9dad-11d1-80b4-00c04fd430cg", AZIDT_ERR_INVALID},
    {"6ba7b810_9dad-11d1-80b4-00c04fd430c8", AZIDT_ERR_INVALID},
    {"", AZIDT_ERR_INVALID},
};

START_TEST(uuid_parse_cases)
{
    unsigned char out[16];

    ck_assert_int_eq(azidt_uuid_parse(parse_cases[_i].text, out),
                     parse_cases[_i].expected);
}
END_TEST

START_TEST(uuid_parse_bytes)
{
    unsigned char out[16];

    ck_assert_int_eq(azidt_uuid_parse(NS_DNS, out), AZIDT_OK);
    ck_assert_uint_eq(out[0], 0x6b);
    ck_assert_uint_eq(out[15], 0xc8);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("uuid");
    TCase *tc = tcase_create("uuid");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, uuid_v5_known_vectors, 0,
                        sizeof(v5_cases) / sizeof(v5_cases[0]));
    tcase_add_loop_test(tc, uuid_parse_cases, 0,
                        sizeof(parse_cases) / sizeof(parse_cases[0]));
    tcase_add_test(tc, uuid_parse_bytes);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
