/*  tpc_monitor: a ZeroMQ socket monitor, read one event at a time.
 *
 *  zmq_socket_monitor() makes a socket publish its connection events
 *  (connected, disconnected, handshake succeeded or failed...) on an
 *  inproc endpoint; a PAIR connected to it reads them.  Each event is two
 *  frames:
 *
 *      frame 1   6 bytes: event code (u16, host order, a ZMQ_EVENT_* bit)
 *                followed by its value (u32, host order: an fd, an errno,
 *                a ZAP status code, depending on the event)
 *      frame 2   the peer's endpoint as text ("tcp://127.0.0.1:5555")
 *
 *  A tpc_monitor_t is that pair: made on a socket, polled through
 *  tpc_monitor_socket(), read with tpc_monitor_read(), and destroyed
 *  before the socket it watches is closed.
 */
#ifndef TPC_MONITOR_H
#define TPC_MONITOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct tpc_monitor_t tpc_monitor_t;

/*  One event, as read by tpc_monitor_read().                             */
typedef struct {
    uint16_t event;             /* ZMQ_EVENT_* */
    uint32_t value;             /* fd, errno or ZAP status (by event) */
    char endpoint[256];         /* the peer's endpoint ("" if none) */
} tpc_monitor_event_t;

/*  Watch SOCK (a socket of the ZeroMQ context CTX) for the events in the
 *  mask EVENTS (ZMQ_EVENT_* bits), published on ENDPOINT (an inproc://
 *  endpoint no other monitor in CTX uses).  Returns NULL on failure with
 *  errno set (ZeroMQ's).                                                 */
tpc_monitor_t *tpc_monitor_new (void *ctx, void *sock, int events,
                                const char *endpoint);

/*  Stop monitoring and close the reading socket; call it before closing
 *  the watched socket.  Harmless on NULL; sets *SELF_P to NULL.          */
void tpc_monitor_destroy (tpc_monitor_t **self_p);

/*  The reading socket, to wait on with zmq_poll (ZMQ_POLLIN).           */
void *tpc_monitor_socket (tpc_monitor_t *self);

/*  Read one event without waiting.  1 with *EV filled, 0 if no event is
 *  pending.                                                              */
int tpc_monitor_read (tpc_monitor_t *self, tpc_monitor_event_t *ev);

#endif
