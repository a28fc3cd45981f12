/*
 * Validation of AzureIdentityTerminator objects.
 *
 * The checks run on the parsed object (a cJSON tree) and collect every
 * violation, each written in the shape Kubernetes uses for field errors:
 * "<path>: <Invalid value|Required value|...>: <value>: <rule and fix>",
 * or for a member that the schema does not define, as Kubernetes' strict
 * decoding does: `unknown field "<path>": did you mean "<name>"? ...`.
 * Client-supplied values in messages are capped and escaped, so a message
 * never carries control characters or an unbounded string.
 *
 * All functions are pure and thread-safe.
 */
#ifndef AZIDT_VALIDATE_H
#define AZIDT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"

/* Nanoseconds per hour, the unit Go and Kubernetes durations count in. */
#define AZIDT_NS_PER_HOUR (3600LL * 1000 * 1000 * 1000)

/* Default bounds of servicePrincipal.clientSecretDuration: one hour, and
 * two years of 365 days (17520h), the longest lifetime the Azure portal
 * offers for a client secret. */
#define AZIDT_DEFAULT_MIN_SECRET_DURATION_NS (1 * AZIDT_NS_PER_HOUR)
#define AZIDT_DEFAULT_MAX_SECRET_DURATION_NS (17520 * AZIDT_NS_PER_HOUR)

/* Default cap on spec.roleAssignments entries. Each entry is one ARM call
 * made while the apiserver waits for the admission response, so the list is
 * kept short enough to finish within the webhook timeout. */
#define AZIDT_DEFAULT_MAX_ROLE_ASSIGNMENTS 20

/* Cap on spec.servicePrincipal.tags entries. It bounds the work of one
 * admission request (the duplicate check compares every pair); Azure's
 * own limit on service principal tags is not checked here. */
#define AZIDT_TAG_COUNT_MAX 64

/* Messages kept per object. Further violations are only counted, so a
 * huge object cannot make a huge denial or cost unbounded work. */
#define AZIDT_VALIDATE_MAX_MESSAGES 20

/* Field limits fixed by Azure and Kubernetes. */
#define AZIDT_DISPLAY_NAME_MAX 120  /* characters */
#define AZIDT_TAG_MAX 256           /* characters */
#define AZIDT_RESOURCE_GROUP_MAX 90 /* characters */
#define AZIDT_DNS1123_SUBDOMAIN_MAX 253
#define AZIDT_LABEL_VALUE_MAX 63

/* Tag prefix reserved for the tags the webhook puts on applications. */
#define AZIDT_RESERVED_TAG_PREFIX "azidterminator.io:"

struct azidt_validate_limits {
    int64_t min_secret_duration_ns;
    int64_t max_secret_duration_ns;
    size_t max_role_assignments;
};

/* Violations found in one object. Each message is owned. */
struct azidt_validate_result {
    char **messages;
    size_t count;
    size_t omitted; /* violations past AZIDT_VALIDATE_MAX_MESSAGES */
    bool nomem;     /* an allocation failed, so the list may be incomplete */
};

/* Fill limits with the defaults above. */
void azidt_validate_limits_init(struct azidt_validate_limits *limits);

/*
 * Check the spec of a new or updated AzureIdentityTerminator (the whole
 * object, as in request.object). Appends one message per violation to
 * result, which the caller zero-initialises and frees with
 * azidt_validate_result_free().
 */
void azidt_validate_spec(const cJSON *object,
                         const struct azidt_validate_limits *limits,
                         struct azidt_validate_result *result);

/*
 * Check an UPDATE from old_object to object: the fields that name existing
 * Azure or Kubernetes objects must not change. Only the immutability rules
 * run here; call azidt_validate_spec() for the field rules.
 */
void azidt_validate_update(const cJSON *object, const cJSON *old_object,
                           struct azidt_validate_result *result);

/* Join the messages with "; " into a new string, ending with "; and N
 * more" when some were omitted. Returns NULL when out of memory and ""
 * when there are none. The caller frees it. */
char *azidt_validate_result_join(const struct azidt_validate_result *result);

void azidt_validate_result_free(struct azidt_validate_result *result);

/* Single-value checks, exported for the pod handlers and for tests. Each
 * returns true when the value satisfies the rule. */
bool azidt_validate_dns1123_subdomain(const char *value);
bool azidt_validate_label_value(const char *value);
bool azidt_validate_resource_group(const char *value);
bool azidt_validate_arm_scope(const char *value);

/* Copy value into buf for a message: at most 64 characters (then "..."),
 * with quotes, backslashes and control bytes escaped Go-style (\", \\, \n,
 * \x1f). buf must hold at least AZIDT_QUOTE_MAX bytes. Returns buf. */
#define AZIDT_QUOTE_MAX 300
char *azidt_validate_quote(const char *value, char *buf, size_t buflen);

#endif
