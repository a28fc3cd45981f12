/*
 * The client secret step of a reconcile (secret.c); internal to the
 * controller.
 */
#ifndef AZIDT_CONTROLLER_SECRET_H
#define AZIDT_CONTROLLER_SECRET_H

#include <stdbool.h>
#include <stdint.h>

#include "azidt/graph.h"
#include "azidt/identity_spec.h"
#include "azidt/provisioner.h"

struct azidt_controller;

struct secret_state {
    bool changed;  /* a new password was written this time */
    bool rotated;  /* ... and it replaced an older one */
    bool conflict; /* a Secret of that name belongs to someone else */
    char key_id[AZIDT_GRAPH_ID_MAX];
    int64_t expiry_wall_ms;  /* when the stored password expires */
    int64_t rotated_wall_ms; /* when it was created */
    int64_t retire_wall_ms;  /* when the previous one goes; 0 if none */
    char *plain;             /* the secret, for verification; wiped */
};

/* Make the Secret hold a valid password of the application, rotating or
 * replacing it when needed. */
azidt_err controller_ensure_secret(struct azidt_controller *ctrl,
                                   const struct azidt_identity_spec *spec,
                                   const struct azidt_azure_identity *azure,
                                   int64_t deadline_ms,
                                   struct secret_state *state, char *err,
                                   size_t errlen);

/* Prove the stored secret obtains a token. AZIDT_ERR_UNAUTHORIZED while
 * Azure still refuses a new secret. */
azidt_err controller_verify_secret(struct azidt_controller *ctrl,
                                   const struct azidt_azure_identity *azure,
                                   const struct secret_state *state,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen);

void controller_secret_state_clear(struct secret_state *state);

#endif
