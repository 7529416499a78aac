/*
 * churn/pbjson.h - protobuf-c messages to and from JSON, driven by generated descriptors.
 *
 * Field names are the proto field names (snake_case), enums are value names (numbers are
 * accepted on input), bytes are base64, NaN/Infinity are strings. Unknown fields, wrong
 * types and out-of-range integers are errors that name the field path ("event.order.amount:
 * expected a number").
 */
#ifndef CHURN_PBJSON_H
#define CHURN_PBJSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "churn/arena.h"
#include "churn/error.h"

/** churn_pbjson_encode() - a new JSON object for @msg (json_decref it); NULL if out of memory. */
json_t *churn_pbjson_encode(const ProtobufCMessage *msg);

/** churn_pbjson_dumps() - @msg as JSON text (free() it); compact unless @pretty. */
char *churn_pbjson_dumps(const ProtobufCMessage *msg, bool pretty);

/**
 * churn_pbjson_decode() - parse @len bytes of JSON @text as a @desc message allocated in
 * @arena (valid until the arena is reset). Errors are CHURN_EINVAL with the reason in @errbuf.
 */
enum churn_err churn_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *text,
                                   size_t len, struct churn_arena *arena, ProtobufCMessage **out,
                                   char *errbuf, size_t errlen);

#endif
