/* posix_port.h - state of the POSIX port shared by its hooks (posix_port.c) and main. */
#ifndef POSIX_PORT_H
#define POSIX_PORT_H

#include <stdint.h>

#include "standin_model.h"

typedef struct {
    int in_fd;                    /* protocol input (pty master or stdin) */
    int out_fd;                   /* protocol output (pty master or stdout) */
    int events_fd;                /* side channel for pin edges and inference phases, or -1 */
    uint32_t baud;                /* 0: no wire-time emulation */
    uint32_t infer_us;            /* extra sleep per inference (simulated latency), 0 = none */
    uint64_t timer_offset_us;     /* added to the µs clock (tests the 32-bit wrap) */
    const standin_model *model;
} posix_port_settings;

/* Must be called before eb_init. */
void posix_port_setup(const posix_port_settings *settings);
/* The port's 64-bit µs clock (monotonic since start + offset); the events use it. */
uint64_t posix_port_clock_us(void);

#endif /* POSIX_PORT_H */
