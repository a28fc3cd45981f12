/*
 * Bounded pool of worker threads for slow requests.
 *
 * The HTTPS threads hand a request that calls Azure to this pool and go
 * back to serving other connections. Each worker runs one job at a time
 * and at most `capacity` more jobs wait for a free worker; a submit beyond
 * that fails at once instead of blocking, so a burst of slow requests is
 * denied quickly instead of piling up behind the apiserver's timeout.
 *
 * Thread-safe: submit from any thread. Each job runs once, on one of the
 * pool's threads, and jobs start in submission order.
 */
#ifndef AZIDT_WORK_QUEUE_H
#define AZIDT_WORK_QUEUE_H

#include <stddef.h>

#include "azidt/error.h"

struct azidt_work_queue;

typedef void (*azidt_work_fn)(void *arg);

/* Counters for logs, metrics and tests. */
struct azidt_work_queue_stats {
    size_t queued;    /* jobs waiting for a worker */
    size_t running;   /* jobs being run */
    size_t completed; /* jobs finished since creation */
    size_t rejected;  /* submits rejected because the queue was full */
};

/*
 * Start `workers` threads (at least 1) with room for `capacity` waiting
 * jobs (0 means a job is accepted only when a worker is free). Returns
 * AZIDT_ERR_NOMEM or AZIDT_ERR_INTERNAL (thread creation failed).
 */
azidt_err azidt_work_queue_create(unsigned workers, unsigned capacity,
                                  struct azidt_work_queue **out);

/*
 * Queue fn(arg). Returns AZIDT_ERR_UNAVAILABLE when the queue is full or
 * shutting down; fn is then not called and arg stays the caller's.
 */
azidt_err azidt_work_queue_submit(struct azidt_work_queue *queue,
                                  azidt_work_fn fn, void *arg);

void azidt_work_queue_stats(struct azidt_work_queue *queue,
                            struct azidt_work_queue_stats *stats);

/*
 * Reject new jobs, run every job already queued and join the threads. The
 * queue stays valid, so submits racing with shutdown fail cleanly with
 * AZIDT_ERR_UNAVAILABLE. Jobs are expected to end by their own deadlines,
 * so this waits as long as they take. Accepts NULL; safe to call twice.
 */
void azidt_work_queue_close(struct azidt_work_queue *queue);

/* Close the queue if needed, then free it. No thread may use it any more.
 * Accepts NULL. */
void azidt_work_queue_destroy(struct azidt_work_queue *queue);

#endif
