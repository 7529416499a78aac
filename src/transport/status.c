/*
 * status.c - the one mapping from enum churn_err to gRPC status codes (DESIGN.md "Status
 * codes"): never UNKNOWN, and each domain error lands on the code a client can act on.
 */
#include <grpc/status.h>

#include "churn/transport.h"
#include "internal.h"

grpc_status_code
churn__status_from_err(enum churn_err err)
{
    switch (err) {
    case CHURN_OK:
        return GRPC_STATUS_OK;
    case CHURN_EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case CHURN_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    case CHURN_EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case CHURN_ETOOBIG:
    case CHURN_ENOMEM:
    case CHURN_EFULL:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case CHURN_EPRECOND:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case CHURN_EDEADLINE:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case CHURN_ECANCELLED:
        return GRPC_STATUS_CANCELLED;
    case CHURN_EUNAVAIL:
    case CHURN_EAGAIN:
        return GRPC_STATUS_UNAVAILABLE;
    case CHURN_EUNIMPL:
        return GRPC_STATUS_UNIMPLEMENTED;
    case CHURN_ERANGE:
        return GRPC_STATUS_OUT_OF_RANGE;
    case CHURN_EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case CHURN_ECORRUPT:
        return GRPC_STATUS_DATA_LOSS;
    case CHURN_EIO:
    case CHURN_EINTERNAL:
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

int
churn_transport_status_code(enum churn_err err)
{
    return (int)churn__status_from_err(err);
}

int
churn_rpc_status_code(enum churn_err err)
{
    return (int)churn__status_from_err(err);
}

const char *
churn_transport_status_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[code];
}
