/*
 * reflection.c - gRPC server reflection (grpc.reflection.v1 and v1alpha, one handler: the
 * two protocols are the same messages under two package names). Answers list_services from
 * the method table and file requests from the embedded descriptor set, each file sent with
 * its transitive imports so a client can build its descriptors from one answer.
 */
#include <string.h>

#include "churn/service.h"
#include "churn_proto.h"
#include "service_internal.h"

/* grpc status codes as carried inside ErrorResponse (part of the reflection protocol) */
#define REFLECTION_CODE_NOT_FOUND      5
#define REFLECTION_CODE_INVALID        3
#define REFLECTION_MAX_FILES_PER_REPLY 64
#define REFLECTION_MAX_NAME            1024

typedef Grpc__Reflection__V1__ServerReflectionRequest reflection_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse reflection_response;

static enum churn_err
reply_error(struct churn_rpc *rpc, reflection_response *resp, int code, const char *msg)
{
    struct churn_arena *a = churn_rpc_scratch(rpc);
    Grpc__Reflection__V1__ErrorResponse *e = churn_arena_alloc(a, sizeof(*e));
    if (!e)
        return CHURN_ENOMEM;
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = (char *)msg;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = e;
    return CHURN_OK;
}

static enum churn_err
reply_files(struct churn_rpc *rpc, reflection_response *resp, int file)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_scratch(rpc);
    int idx[REFLECTION_MAX_FILES_PER_REPLY];
    size_t n = churn_reflection_closure(svc->reflection, file, idx, REFLECTION_MAX_FILES_PER_REPLY);
    if (n > REFLECTION_MAX_FILES_PER_REPLY)
        n = REFLECTION_MAX_FILES_PER_REPLY;
    Grpc__Reflection__V1__FileDescriptorResponse *fd = churn_arena_alloc(a, sizeof(*fd));
    ProtobufCBinaryData *files = churn_arena_alloc(a, n * sizeof(*files));
    if (!fd || !files)
        return CHURN_ENOMEM;
    grpc__reflection__v1__file_descriptor_response__init(fd);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *data;
        size_t len;
        churn_reflection_file_bytes(svc->reflection, idx[i], &data, &len);
        files[i].data = (uint8_t *)data;
        files[i].len = len;
    }
    fd->n_file_descriptor_proto = n;
    fd->file_descriptor_proto = files;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fd;
    return CHURN_OK;
}

static enum churn_err
reply_services(struct churn_rpc *rpc, reflection_response *resp)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_scratch(rpc);
    size_t n = svc->n_service_names;
    Grpc__Reflection__V1__ListServiceResponse *ls = churn_arena_alloc(a, sizeof(*ls));
    Grpc__Reflection__V1__ServiceResponse **list = churn_arena_alloc(a, n * sizeof(*list));
    Grpc__Reflection__V1__ServiceResponse *items = churn_arena_alloc(a, n * sizeof(*items));
    if (!ls || !list || !items)
        return CHURN_ENOMEM;
    grpc__reflection__v1__list_service_response__init(ls);
    for (size_t i = 0; i < n; i++) {
        grpc__reflection__v1__service_response__init(&items[i]);
        items[i].name = (char *)svc->service_names[i];
        list[i] = &items[i];
    }
    ls->n_service = n;
    ls->service = list;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = ls;
    return CHURN_OK;
}

static enum churn_err
reply_extension_numbers(struct churn_rpc *rpc, reflection_response *resp, const char *type)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    if (churn_reflection_find_symbol(svc->reflection, type) < 0)
        return reply_error(rpc, resp, REFLECTION_CODE_NOT_FOUND, "type not found");
    Grpc__Reflection__V1__ExtensionNumberResponse *en =
        churn_arena_alloc(churn_rpc_scratch(rpc), sizeof(*en));
    if (!en)
        return CHURN_ENOMEM;
    grpc__reflection__v1__extension_number_response__init(en);
    en->base_type_name = (char *)type; /* our protos declare no extensions */
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    resp->all_extension_numbers_response = en;
    return CHURN_OK;
}

static enum churn_err
reflection_message(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    const reflection_request *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    reflection_response resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (reflection_request *)req;
    enum churn_err err;
    int file;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        err = reply_services(rpc, &resp);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = strlen(req->file_by_filename) > REFLECTION_MAX_NAME
                   ? -1
                   : churn_reflection_find_file(svc->reflection, req->file_by_filename);
        err = file < 0 ? reply_error(rpc, &resp, REFLECTION_CODE_NOT_FOUND, "file not found")
                       : reply_files(rpc, &resp, file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = strlen(req->file_containing_symbol) > REFLECTION_MAX_NAME
                   ? -1
                   : churn_reflection_find_symbol(svc->reflection, req->file_containing_symbol);
        err = file < 0 ? reply_error(rpc, &resp, REFLECTION_CODE_NOT_FOUND, "symbol not found")
                       : reply_files(rpc, &resp, file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        err = reply_error(rpc, &resp, REFLECTION_CODE_NOT_FOUND, "extension not found");
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        err = strlen(req->all_extension_numbers_of_type) > REFLECTION_MAX_NAME
                  ? reply_error(rpc, &resp, REFLECTION_CODE_NOT_FOUND, "type not found")
                  : reply_extension_numbers(rpc, &resp, req->all_extension_numbers_of_type);
        break;
    default:
        err = reply_error(rpc, &resp, REFLECTION_CODE_INVALID, "no request set");
        break;
    }
    if (err)
        return err;
    err = churn_rpc_send(rpc, &resp.base);
    if (err == CHURN_EFULL)
        return churn_rpc_error(rpc, CHURN_EFULL, "client is not reading its answers");
    return err;
}

#define REFLECTION_ROW(path)                                                                       \
    {                                                                                              \
        .name = path, .shape = CHURN_RPC_BIDI_STREAM,                                              \
        .request = &grpc__reflection__v1__server_reflection_request__descriptor,                   \
        .response = &grpc__reflection__v1__server_reflection_response__descriptor,                 \
        .on_message = reflection_message, .max_request_bytes = 8192,                               \
    }

const struct churn_method churn__reflection_methods[] = {
    REFLECTION_ROW("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
    REFLECTION_ROW("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
};
const size_t churn__n_reflection_methods =
    sizeof(churn__reflection_methods) / sizeof(churn__reflection_methods[0]);
