/*
 * Leader election through a coordination.k8s.io/v1 Lease, so that one
 * replica runs the controller while every replica serves admission.
 *
 * A candidate takes the Lease when it is absent, released, or not renewed
 * for leaseDurationSeconds as measured on the candidate's own clock from
 * the moment it last saw the Lease change, so clock skew between nodes
 * does not matter. The leader renews it every retry period and gives up
 * leadership when it could not renew for the renew deadline, before any
 * other replica may take over. Writes carry the resourceVersion they read,
 * so two candidates never both win.
 */
#ifndef AZIDT_LEADER_H
#define AZIDT_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "azidt/error.h"
#include "azidt/kube_client.h"

struct azidt_leader_config {
    const char *namespace_;    /* namespace of the Lease */
    const char *name;          /* name of the Lease */
    const char *identity;      /* this replica, unique among replicas */
    int64_t lease_duration_ms; /* how long a silent leader keeps the lease */
    int64_t
        renew_deadline_ms;   /* leader steps down after this without renewal */
    int64_t retry_period_ms; /* how often to try to acquire or renew */
};

/* Called on the election thread when this replica starts (true) or stops
 * (false) leading. It may block: the election waits for it. */
typedef void (*azidt_leader_cb)(bool leading, void *ctx);

struct azidt_leader;

/* Fill cfg with defaults: 15s lease, 10s renew deadline, 2s retry, Lease
 * name "azure-identity-terminator". */
void azidt_leader_config_init(struct azidt_leader_config *cfg);

/* Start the election thread. kube must outlive the election; cfg's strings
 * are copied. */
azidt_err azidt_leader_start(struct azidt_kube_client *kube,
                             const struct azidt_leader_config *cfg,
                             azidt_leader_cb cb, void *ctx,
                             struct azidt_leader **out);

bool azidt_leader_is_leading(const struct azidt_leader *leader);

/* Stop the thread; a leader calls cb(false) and releases the Lease so a
 * standby takes over at once. Accepts NULL. */
void azidt_leader_stop(struct azidt_leader *leader);

#endif
