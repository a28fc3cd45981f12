/*
 * Name-based UUIDs (RFC 9562 version 5, SHA-1), used to give Azure role
 * assignments names that are the same for the same input, so a retried
 * create cannot make a second assignment. Pure functions, thread-safe.
 */
#ifndef AZIDT_UUID_H
#define AZIDT_UUID_H

#include <stddef.h>

#include "azidt/error.h"

/* Text form: 36 characters plus the NUL. */
#define AZIDT_UUID_TEXT_LEN 37

/* Parse a UUID in 8-4-4-4-12 hex form (either case) into 16 bytes.
 * Returns AZIDT_ERR_INVALID for anything else. */
azidt_err azidt_uuid_parse(const char *text, unsigned char out[16]);

/* Write the version 5 UUID of name (len bytes) in namespace ns as
 * lowercase text into out. */
void azidt_uuid_v5(const unsigned char ns[16], const void *name, size_t len,
                   char out[AZIDT_UUID_TEXT_LEN]);

#endif
