/*
 * AdmissionReview v1: parsing requests and building responses.
 *
 * A request is parsed once into struct azidt_admission_request, which owns
 * its cJSON tree. Handlers fill a struct azidt_admission_response and the
 * module serialises it with the request's uid. Both structs are freed with
 * their _free function, which accepts NULL.
 */
#ifndef AZIDT_ADMISSION_H
#define AZIDT_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"

enum azidt_operation {
    AZIDT_OP_CREATE,
    AZIDT_OP_UPDATE,
    AZIDT_OP_DELETE,
    AZIDT_OP_CONNECT,
};

struct azidt_admission_request {
    cJSON *review;           /* the whole parsed AdmissionReview (owned) */
    const char *uid;         /* request.uid, never NULL after a parse */
    const char *group;       /* request.kind.group ("" for core) */
    const char *version;     /* request.kind.version */
    const char *kind;        /* request.kind.kind */
    const char *resource;    /* request.resource.resource */
    const char *subresource; /* request.subResource or NULL */
    const char *namespace_;  /* request.namespace or "" */
    const char *name;        /* request.name, or metadata.name, or "" */
    const char *username;    /* request.userInfo.username or "" */
    enum azidt_operation operation;
    bool dry_run;
    const cJSON *object;     /* request.object or NULL (DELETE) */
    const cJSON *old_object; /* request.oldObject or NULL (CREATE) */
    int64_t deadline_ms;     /* monotonic deadline for the response */
};

struct azidt_admission_response {
    bool allowed;
    int code;        /* HTTP-style status for denials, such as 400 or 403 */
    char *message;   /* owned; shown to the user by kubectl */
    char *reason;    /* owned; optional machine-readable reason */
    cJSON *patch;    /* owned JSONPatch array, or NULL for no mutation */
    char **warnings; /* owned array of owned strings */
    size_t warning_count;
};

/*
 * Parse an AdmissionReview body. On success *out is a new request that
 * the caller frees with azidt_admission_request_free(). On failure returns
 * AZIDT_ERR_INVALID (or AZIDT_ERR_NOMEM) and writes a one-line reason that
 * names the bad field into err (errlen bytes, always NUL-terminated).
 */
azidt_err azidt_admission_parse(const char *body, size_t len,
                                struct azidt_admission_request **out, char *err,
                                size_t errlen);

void azidt_admission_request_free(struct azidt_admission_request *req);

/* Fill resp as an allowed response with no patch. */
void azidt_admission_allow(struct azidt_admission_response *resp);

/* Fill resp as a denial with code and a printf-style message. */
void azidt_admission_deny(struct azidt_admission_response *resp, int code,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append a warning (copied). Returns AZIDT_ERR_NOMEM on failure. */
azidt_err azidt_admission_warn(struct azidt_admission_response *resp,
                               const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Release what resp owns and zero it. */
void azidt_admission_response_clear(struct azidt_admission_response *resp);

/*
 * Serialise resp as an AdmissionReview v1 response to the request with uid.
 * The patch, if any, is sent base64-encoded with patchType JSONPatch.
 * Returns a malloc'd NUL-terminated string, or NULL when out of memory.
 */
char *
azidt_admission_response_json(const char *uid,
                              const struct azidt_admission_response *resp);

#endif
