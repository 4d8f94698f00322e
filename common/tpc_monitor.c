/*  tpc_monitor: zmq_socket_monitor() and its PAIR (see .h for the frames). */
#include "tpc_monitor.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct tpc_monitor_t {
    void *watched;              /* the monitored socket (not ours) */
    void *pair;                 /* reads its events */
};

tpc_monitor_t *
tpc_monitor_new (void *ctx, void *sock, int events, const char *endpoint)
{
    tpc_monitor_t *self = calloc (1, sizeof *self);
    int linger = 0;
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    if (zmq_socket_monitor (sock, endpoint, events))
        goto fail;
    self->watched = sock;
    self->pair = zmq_socket (ctx, ZMQ_PAIR);
    if (!self->pair
        || zmq_setsockopt (self->pair, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_connect (self->pair, endpoint))
        goto fail;
    return self;
fail:;
    int err = errno;
    tpc_monitor_destroy (&self);
    errno = err;
    return NULL;
}

void
tpc_monitor_destroy (tpc_monitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_monitor_t *self = *self_p;
    if (self->watched)
        zmq_socket_monitor (self->watched, NULL, 0);
    if (self->pair)
        zmq_close (self->pair);
    free (self);
    *self_p = NULL;
}

void *
tpc_monitor_socket (tpc_monitor_t *self)
{
    return self ? self->pair : NULL;
}

int
tpc_monitor_read (tpc_monitor_t *self, tpc_monitor_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return 0;
    }
    if (zmq_msg_size (&frame) >= 6) {
        memcpy (&ev->event, zmq_msg_data (&frame), 2);
        memcpy (&ev->value, (char *) zmq_msg_data (&frame) + 2, 4);
    }
    bool more = zmq_msg_more (&frame);
    zmq_msg_close (&frame);
    for (int i = 0; more; i++) {      /* the endpoint (and any later frame) */
        zmq_msg_init (&frame);
        more = zmq_msg_recv (&frame, self->pair, 0) >= 0
               && zmq_msg_more (&frame);
        size_t n = zmq_msg_size (&frame);
        if (i == 0 && n < sizeof ev->endpoint) {
            memcpy (ev->endpoint, zmq_msg_data (&frame), n);
            ev->endpoint[n] = '\0';
        }
        zmq_msg_close (&frame);
    }
    return 1;
}
