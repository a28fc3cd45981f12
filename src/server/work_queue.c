#include "azidt/work_queue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
    azidt_work_fn fn;
    void *arg;
};

struct azidt_work_queue {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* a job was queued or stopping was set */
    struct job *ring;     /* ring_size slots */
    size_t ring_size;
    size_t head;     /* index of the oldest job */
    size_t capacity; /* jobs allowed to wait */
    bool stopping;
    bool joined; /* the threads have been joined */
    pthread_t *threads;
    unsigned thread_count;
    struct azidt_work_queue_stats stats;
};

static void *worker_main(void *data)
{
    struct azidt_work_queue *queue = data;

    pthread_mutex_lock(&queue->lock);
    for (;;) {
        struct job job;

        while (queue->stats.queued == 0 && !queue->stopping)
            pthread_cond_wait(&queue->ready, &queue->lock);
        /* Stopping still runs what is queued: those requests were
         * accepted and their connections wait for a response. */
        if (queue->stats.queued == 0)
            break;
        job = queue->ring[queue->head];
        queue->head = (queue->head + 1) % queue->ring_size;
        queue->stats.queued--;
        queue->stats.running++;
        pthread_mutex_unlock(&queue->lock);

        job.fn(job.arg);

        pthread_mutex_lock(&queue->lock);
        queue->stats.running--;
        queue->stats.completed++;
    }
    pthread_mutex_unlock(&queue->lock);
    return NULL;
}

azidt_err azidt_work_queue_create(unsigned workers, unsigned capacity,
                                  struct azidt_work_queue **out)
{
    struct azidt_work_queue *queue = NULL;
    azidt_err rc = AZIDT_OK;

    *out = NULL;
    if (workers == 0)
        workers = 1;
    queue = calloc(1, sizeof(*queue));
    if (!queue)
        return AZIDT_ERR_NOMEM;
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->ready, NULL);
    queue->capacity = capacity;
    /* A job for an idle worker passes through the ring too, so the ring
     * needs room for the waiting jobs plus one per worker. */
    queue->ring_size = (size_t)capacity + workers;
    queue->ring = calloc(queue->ring_size, sizeof(*queue->ring));
    queue->threads = calloc(workers, sizeof(*queue->threads));
    if (!queue->ring || !queue->threads) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&queue->threads[i], NULL, worker_main, queue)) {
            rc = AZIDT_ERR_INTERNAL;
            goto out;
        }
        queue->thread_count++;
    }
    *out = queue;
    queue = NULL;

out:
    azidt_work_queue_destroy(queue);
    return rc;
}

azidt_err azidt_work_queue_submit(struct azidt_work_queue *queue,
                                  azidt_work_fn fn, void *arg)
{
    azidt_err rc = AZIDT_OK;

    pthread_mutex_lock(&queue->lock);
    /* Every worker may hold one job and `capacity` more may wait. */
    if (queue->stopping || queue->stats.queued + queue->stats.running >=
                               queue->capacity + queue->thread_count) {
        queue->stats.rejected++;
        rc = AZIDT_ERR_UNAVAILABLE;
    } else {
        size_t tail = (queue->head + queue->stats.queued) % queue->ring_size;

        queue->ring[tail].fn = fn;
        queue->ring[tail].arg = arg;
        queue->stats.queued++;
        pthread_cond_signal(&queue->ready);
    }
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

void azidt_work_queue_stats(struct azidt_work_queue *queue,
                            struct azidt_work_queue_stats *stats)
{
    pthread_mutex_lock(&queue->lock);
    *stats = queue->stats;
    pthread_mutex_unlock(&queue->lock);
}

void azidt_work_queue_close(struct azidt_work_queue *queue)
{
    bool join;

    if (!queue)
        return;
    pthread_mutex_lock(&queue->lock);
    queue->stopping = true;
    join = !queue->joined;
    queue->joined = true;
    pthread_cond_broadcast(&queue->ready);
    pthread_mutex_unlock(&queue->lock);
    for (unsigned i = 0; join && i < queue->thread_count; i++)
        pthread_join(queue->threads[i], NULL);
}

void azidt_work_queue_destroy(struct azidt_work_queue *queue)
{
    if (!queue)
        return;
    azidt_work_queue_close(queue);
    pthread_cond_destroy(&queue->ready);
    pthread_mutex_destroy(&queue->lock);
    free(queue->threads);
    free(queue->ring);
    free(queue);
}
