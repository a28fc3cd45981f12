/*
 * Error codes shared by every module.
 *
 * Functions that can fail return an azidt_err. AZIDT_OK is zero, so
 * "if (err)" reads as "if this failed". The list below generates both the
 * enum and the name table, so they cannot drift apart.
 */
#ifndef AZIDT_ERROR_H
#define AZIDT_ERROR_H

#define AZIDT_ERROR_LIST(X)                                                    \
    X(AZIDT_OK, "ok")                                                          \
    X(AZIDT_ERR_NOMEM, "out of memory")                                        \
    X(AZIDT_ERR_INVALID, "invalid input")                                      \
    X(AZIDT_ERR_IO, "input/output error")                                      \
    X(AZIDT_ERR_TLS, "TLS error")                                              \
    X(AZIDT_ERR_HTTP, "HTTP transport error")                                  \
    X(AZIDT_ERR_TIMEOUT, "deadline exceeded")                                  \
    X(AZIDT_ERR_NOT_FOUND, "not found")                                        \
    X(AZIDT_ERR_CONFLICT, "conflict")                                          \
    X(AZIDT_ERR_FORBIDDEN, "forbidden")                                        \
    X(AZIDT_ERR_UNAUTHORIZED, "unauthorized")                                  \
    X(AZIDT_ERR_THROTTLED, "throttled")                                        \
    X(AZIDT_ERR_UNAVAILABLE, "service unavailable")                            \
    X(AZIDT_ERR_GONE, "resource version gone")                                 \
    X(AZIDT_ERR_REMOTE, "remote service error")                                \
    X(AZIDT_ERR_CONFIG, "invalid configuration")                               \
    X(AZIDT_ERR_INTERNAL, "internal error")

typedef enum azidt_err {
#define AZIDT_ERROR_ENUM(name, text) name,
    AZIDT_ERROR_LIST(AZIDT_ERROR_ENUM)
#undef AZIDT_ERROR_ENUM
        AZIDT_ERR_LAST
} azidt_err;

/* Return a short lowercase description of err; never NULL. */
const char *azidt_strerror(azidt_err err);

/* Return the enum constant's name, such as "AZIDT_ERR_TIMEOUT"; never NULL. */
const char *azidt_err_name(azidt_err err);

#endif
