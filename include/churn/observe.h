/*
 * churn/observe.h - what makes churnd visible from outside, wired in one place: the metrics
 * registry the transport counts into, the collectors of the services' state, and the admin
 * HTTP listener serving /metrics, /livez and /readyz (docs/DEPLOY.md).
 */
#ifndef CHURN_OBSERVE_H
#define CHURN_OBSERVE_H

#include <stddef.h>

#include "churn/config.h"
#include "churn/error.h"

struct churn_metrics;
struct churn_services;
struct churn_auth;
struct churn_observe;

/**
 * churn_observe_create() - from @cfg's admin-* settings: the metrics registry (none when
 * --admin-listen is off). Nothing listens yet. @out: OUT. Errors in @errbuf name the option.
 */
enum churn_err churn_observe_create(const struct churn_config *cfg, struct churn_observe **out,
                                    char *errbuf, size_t errlen);

/** churn_observe_metrics() - the registry for the gRPC server (NULL: metrics are off). */
struct churn_metrics *churn_observe_metrics(struct churn_observe *obs);

/**
 * churn_observe_start() - add the collectors of @svc (borrowed until churn_observe_stop) and
 * of the connections to gRPC port @grpc_port, then start the admin listener, logging its
 * address as `admin_listening`. With @auth (the gRPC listener's tokens, borrowed; NULL: none)
 * /metrics needs the read role unless --metrics-public; /livez and /readyz stay open for
 * probes. CHURN_EUNAVAIL with the address when it cannot bind; other errors name the option.
 * A no-op when --admin-listen is off.
 */
enum churn_err churn_observe_start(struct churn_observe *obs, struct churn_services *svc,
                                   struct churn_auth *auth, int grpc_port, char *errbuf,
                                   size_t errlen);

/**
 * churn_observe_stop() - stop the admin listener (a scrape in progress is answered first);
 * the registry stays, since the server's workers may still count the calls that are ending.
 * Call after churn_server_shutdown() and before the store closes. NULL is a no-op.
 */
void churn_observe_stop(struct churn_observe *obs);

/**
 * churn_observe_destroy() - stop the listener if still running and free everything, the
 * registry included. Call after churn_server_destroy() has joined the workers. NULL: no-op.
 */
void churn_observe_destroy(struct churn_observe *obs);

#endif
