/*
 * methods.c - the churn.v1 rows of the method table: one row per RPC, with its shape,
 * descriptors, handler and limits. A row whose handler is not built yet carries an
 * `unimplemented` text, and the transport answers UNIMPLEMENTED with it.
 */
#include "churn/service.h"
#include "churn_proto.h"

#define ROW(svc, method, shape_, req, resp, why)                                                   \
    {                                                                                              \
        .name = "/churn.v1." svc "/" method, .shape = shape_, .request = &req##__descriptor,       \
        .response = &resp##__descriptor, .unimplemented = why,                                     \
    }

#define NOT_YET(issue) "not implemented yet in this build (tracked as issue " issue ")"

const struct churn_method churn__churn_v1_methods[] = {
    ROW("ScoringService", "GetScore", CHURN_RPC_UNARY, churn__v1__get_score_request,
        churn__v1__get_score_response, NOT_YET("#5")),
    ROW("ScoringService", "BatchGetScores", CHURN_RPC_UNARY, churn__v1__batch_get_scores_request,
        churn__v1__batch_get_scores_response, NOT_YET("#5")),
    ROW("ScoringService", "ListAtRiskCustomers", CHURN_RPC_UNARY,
        churn__v1__list_at_risk_customers_request, churn__v1__list_at_risk_customers_response,
        NOT_YET("#5")),
    ROW("IngestService", "RecordEvents", CHURN_RPC_CLIENT_STREAM, churn__v1__record_events_request,
        churn__v1__record_events_response, NOT_YET("#3")),
    ROW("IngestService", "UpsertCustomers", CHURN_RPC_UNARY, churn__v1__upsert_customers_request,
        churn__v1__upsert_customers_response, NOT_YET("#3")),
    ROW("IngestService", "GetCustomer", CHURN_RPC_UNARY, churn__v1__get_customer_request,
        churn__v1__get_customer_response, NOT_YET("#3")),
    ROW("IngestService", "DeleteCustomer", CHURN_RPC_UNARY, churn__v1__delete_customer_request,
        churn__v1__delete_customer_response, NOT_YET("#3")),
    ROW("ChatService", "AnalyzeChat", CHURN_RPC_BIDI_STREAM, churn__v1__analyze_chat_request,
        churn__v1__analyze_chat_response, NOT_YET("#4")),
    ROW("ChatService", "AnalyzeText", CHURN_RPC_UNARY, churn__v1__analyze_text_request,
        churn__v1__analyze_text_response, NOT_YET("#4")),
    ROW("AlertService", "WatchAlerts", CHURN_RPC_SERVER_STREAM, churn__v1__watch_alerts_request,
        churn__v1__watch_alerts_response, NOT_YET("#6")),
    ROW("AlertService", "ListAlerts", CHURN_RPC_UNARY, churn__v1__list_alerts_request,
        churn__v1__list_alerts_response, NOT_YET("#6")),
    ROW("AlertService", "AcknowledgeAlert", CHURN_RPC_UNARY, churn__v1__acknowledge_alert_request,
        churn__v1__acknowledge_alert_response, NOT_YET("#6")),
    ROW("AlertService", "RecordOutcome", CHURN_RPC_UNARY, churn__v1__record_outcome_request,
        churn__v1__record_outcome_response, NOT_YET("#6")),
    ROW("ModelService", "GetModelInfo", CHURN_RPC_UNARY, churn__v1__get_model_info_request,
        churn__v1__get_model_info_response, NOT_YET("#5")),
    ROW("ModelService", "ReloadModel", CHURN_RPC_UNARY, churn__v1__reload_model_request,
        churn__v1__reload_model_response, NOT_YET("#5")),
};
const size_t churn__n_churn_v1_methods =
    sizeof(churn__churn_v1_methods) / sizeof(churn__churn_v1_methods[0]);
