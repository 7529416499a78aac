/*
 * churn/health.h - serving status per service, with change notifications.
 *
 * The overall status has the empty name "". churnd marks everything NOT_SERVING until the
 * store is open, SERVING while it serves, and NOT_SERVING again when it begins to drain.
 * Watchers are called (under the health lock, so they must not block or call back into the
 * health object) each time the status of the service they watch changes.
 */
#ifndef CHURN_HEALTH_H
#define CHURN_HEALTH_H

#include <stdbool.h>

#include "churn/error.h"

/* Numerically equal to grpc.health.v1.HealthCheckResponse.ServingStatus. */
enum churn_health_status {
    CHURN_HEALTH_UNKNOWN = 0,
    CHURN_HEALTH_SERVING = 1,
    CHURN_HEALTH_NOT_SERVING = 2,
    CHURN_HEALTH_SERVICE_UNKNOWN = 3,
};

struct churn_health;

typedef void churn_health_watch_fn(void *ctx, enum churn_health_status status);

/** churn_health_create() - an empty registry (the overall service "" is NOT_SERVING). */
enum churn_err churn_health_create(struct churn_health **out);

/** churn_health_destroy() - free the registry; every watch must have been removed. */
void churn_health_destroy(struct churn_health *health);

/**
 * churn_health_set() - set @service's status (registering the name if new) and notify its
 * watchers when it changed. @service is copied; at most 64 services of up to 200 bytes.
 */
enum churn_err churn_health_set(struct churn_health *health, const char *service,
                                enum churn_health_status status);

/** churn_health_set_all() - set every registered service and the overall status. */
void churn_health_set_all(struct churn_health *health, enum churn_health_status status);

/**
 * churn_health_get() - @service's status; CHURN_HEALTH_SERVICE_UNKNOWN if not registered.
 */
enum churn_health_status churn_health_get(struct churn_health *health, const char *service);

/**
 * churn_health_watch() - call @fn(@ctx, status) now with the current status and again at
 * each change of @service. *id identifies the watch for churn_health_unwatch().
 */
enum churn_err churn_health_watch(struct churn_health *health, const char *service,
                                  churn_health_watch_fn *fn, void *ctx, int *id);

/** churn_health_unwatch() - remove watch @id; after it returns @fn is no longer called. */
void churn_health_unwatch(struct churn_health *health, int id);

#endif
