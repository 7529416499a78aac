/*
 * churn/event_codec.h - the API's Event message ⇄ the domain's struct churn_event, one codec
 * for every path that carries events: RecordEvents and the JetStream consumer decode, churnctl
 * import encodes. The message type is only forward-declared here, so including this header
 * does not bring protobuf into a domain module; callers that build or read messages include
 * the generated churn_proto.h themselves (src/service/ and the tools).
 */
#ifndef CHURN_EVENT_CODEC_H
#define CHURN_EVENT_CODEC_H

#include <stddef.h>

#include "churn/arena.h"
#include "churn/error.h"
#include "churn/event.h"

struct Churn__V1__Event;

/**
 * churn__event_from_proto() - @pe as a domain event in @ev whose strings live in @a.
 * Returns CHURN_OK; CHURN_EINVAL with @reason naming the field and *@field set to its path
 * ("event.order.status") when a required enum is unset or no kind is set; CHURN_ENOMEM.
 * Identifiers and texts are not checked here (the wire check does that once, at the edge).
 */
enum churn_err churn__event_from_proto(const struct Churn__V1__Event *pe, struct churn_arena *a,
                                       struct churn_event *ev, char *reason, size_t rlen,
                                       const char **field);

/**
 * churn__event_to_proto() - @ev as an API event allocated in @a (its strings point into @ev,
 * which must outlive the message). NULL for a chat signal (not an API event) or out of memory.
 */
struct Churn__V1__Event *churn__event_to_proto(const struct churn_event *ev, struct churn_arena *a);

#endif
