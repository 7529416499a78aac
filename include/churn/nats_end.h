/*
 * churn/nats_end.h - ending a NATS client (churnd's JetStream consumer, churnctl's publisher)
 * without leaking what the library still holds. libnats 3.4 frees messages on a collector
 * thread, and nats_CloseAndWait() stops that thread before it waits for the last references
 * and then clears the library's state: a message freed after that is lost (LeakSanitizer
 * reported JetStream replies still queued at exit). So the connection is drained first: every
 * queued reply is delivered and freed while the collector runs, then the connection closes.
 */
#ifndef CHURN_NATS_END_H
#define CHURN_NATS_END_H

struct __natsConnection; /* natsConnection of <nats/nats.h>, owned by src/cluster/nats_end.c */
struct __jsCtx;          /* jsCtx */

/** Drains @nc (waits up to @wait_ms for it to close), destroys @js and @nc (either may be
 * NULL) and closes the NATS library, waiting up to @wait_ms for its threads. Call once, from
 * a thread that is not the library's, after the last use of the library in the process. */
void churn_nats_end(struct __natsConnection *nc, struct __jsCtx *js, int wait_ms);

#endif
