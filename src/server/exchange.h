/*
 * One HTTP request/response exchange, private to the server module.
 *
 * server.c owns the daemon and the shared state; exchange.c runs each
 * request through the checks, the handler and the response. These
 * functions connect the two files.
 */
#ifndef AZIDT_SERVER_EXCHANGE_H
#define AZIDT_SERVER_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "azidt/server.h"
#include "azidt/work_queue.h"

/* libmicrohttpd access handler; cls is the struct azidt_server. */
enum MHD_Result azidt_exchange_handle(void *cls,
                                      struct MHD_Connection *connection,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **con_cls);

/* libmicrohttpd completion callback: frees the exchange. */
void azidt_exchange_completed(void *cls, struct MHD_Connection *connection,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe);

/* Implemented in server.c. */
const struct azidt_server_config *
azidt_exchange_config(struct azidt_server *server);
struct azidt_work_queue *azidt_exchange_workers(struct azidt_server *server);
struct azidt_client_auth *
azidt_exchange_client_auth(struct azidt_server *server);
bool azidt_exchange_readiness(struct azidt_server *server, char *buf,
                              size_t len);
void azidt_exchange_started(struct azidt_server *server);
void azidt_exchange_finished(struct azidt_server *server);

#endif
