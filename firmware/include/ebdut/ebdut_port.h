/*
 * ebdut_port.h - the hooks a port implements (link-time, like the reference th_* functions).
 *
 * Reference th_* role            -> energybench hook
 *   th_serialport_initialize     -> eb_port_uart_init
 *   th_printf (character sink)   -> eb_port_uart_putc
 *   th_getchar                   -> eb_port_uart_getc
 *   th_timestamp_initialize      -> eb_port_timer_init + eb_port_ts_pin_init
 *   th_timestamp (timer / pin)   -> eb_port_timer_us + eb_port_ts_pin_write (core does the rest)
 *   th_final_initialize          -> eb_port_model_init
 *   th_load_tensor               -> eb_port_load_tensor
 *   th_pre / th_infer / th_post  -> eb_port_pre / eb_port_infer / eb_port_post
 *   th_results                   -> eb_port_results
 * See ports/template/ebdut_port_template.c for a documented skeleton of every hook.
 */
#ifndef EBDUT_PORT_H
#define EBDUT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "ebdut.h"

#ifdef __cplusplus
extern "C" {
#endif

/* UART 8N1. Set the baud for the mode (reference: 9600 energy, 115200 performance). */
void eb_port_uart_init(eb_mode mode);
/* Transmit one byte (blocking or queued; the core never needs it to return early). */
void eb_port_uart_putc(char c);
/* Wait for one received byte (0..255); a negative value stops eb_run(). */
int eb_port_uart_getc(void);

/* Start a free-running 32-bit microsecond counter (it may wrap; the core extends it). */
void eb_port_timer_init(void);
/* Current counter value in µs. Must advance: the timestamp hold time is measured with it. */
uint32_t eb_port_timer_us(void);

/* Configure the timestamp pin as an output at its released (high) level. Energy mode only. */
void eb_port_ts_pin_init(void);
/* level 0: drive low (the falling edge is the timestamp); level 1: release (high). */
void eb_port_ts_pin_write(int level);

/* Set the model up once at boot; return 0 on success. */
int eb_port_model_init(void);
/* Convert the downloaded bytes into the model input (outside timing); return 0 on success.
 * The core has already checked length == input_size_bytes when that is non-zero; a port may
 * print an explanatory line and return non-zero for any other problem. */
int eb_port_load_tensor(const uint8_t *data, size_t length);
/* Before the timed loop of 'iterations' inferences (after the start timestamp). */
void eb_port_pre(uint32_t iterations);
/* One inference. */
void eb_port_infer(void);
/* After the timed loop (before the end timestamp). */
void eb_port_post(void);
/* Print exactly one "m-results-[...]" line (use the eb_print_* helpers of ebdut.h). */
void eb_port_results(void);

#ifdef __cplusplus
}
#endif

#endif /* EBDUT_PORT_H */
