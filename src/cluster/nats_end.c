/*
 * nats_end.c - the one way churnd and churnctl end their NATS client (churn/nats_end.h): drain
 * the connection so every queued reply is freed while libnats's collector thread still runs,
 * then destroy the JetStream context and the connection, then close the library.
 */
#include "churn/nats_end.h"

#include <nats/nats.h>

#define DRAIN_POLL_MS 5

void
churn_nats_end(natsConnection *nc, jsCtx *js, int wait_ms)
{
    if (nc && natsConnection_DrainTimeout(nc, wait_ms) == NATS_OK)
        for (int waited = 0; !natsConnection_IsClosed(nc) && waited < wait_ms;
             waited += DRAIN_POLL_MS)
            nats_Sleep(DRAIN_POLL_MS);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_CloseAndWait(wait_ms);
}
