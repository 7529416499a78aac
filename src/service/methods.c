/*
 * methods.c - the churn.v1 rows of the method table: one row per RPC, with its shape,
 * descriptors, handler and limits. A row whose handler is not built yet carries an
 * `unimplemented` text, and the transport answers UNIMPLEMENTED with it.
 */
#include "churn/service.h"
#include "churn_proto.h"
#include "service_internal.h"

#define ROW(svc, method, shape_, req, resp, why)                                                   \
    {                                                                                              \
        .name = "/churn.v1." svc "/" method, .shape = shape_, .request = &req##__descriptor,       \
        .response = &resp##__descriptor, .unimplemented = why,                                     \
    }

#define NOT_YET(issue) "not implemented yet in this build (tracked as issue " issue ")"

const struct churn_method churn__churn_v1_methods[] = {
    ROW("AlertService", "RecordOutcome", CHURN_RPC_UNARY, churn__v1__record_outcome_request,
        churn__v1__record_outcome_response, NOT_YET("#6")),
};
const size_t churn__n_churn_v1_methods =
    sizeof(churn__churn_v1_methods) / sizeof(churn__churn_v1_methods[0]);
