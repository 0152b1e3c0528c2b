/*
 * ebdut.h - energybench portable MLPerf Tiny DUT harness: the core's public API.
 *
 * The core speaks the MLPerf Tiny / EEMBC ULPMark-ML serial protocol (commands terminated by
 * '%', replies ending in "m-ready") with bounds checks on every buffer. It uses no dynamic
 * allocation and no printf: output goes byte by byte through eb_port_uart_putc() (ebdut_port.h).
 * A port fills an eb_config, calls eb_init() once, then feeds received bytes to eb_rx_byte()
 * (or calls eb_run(), which loops on eb_port_uart_getc()).
 */
#ifndef EBDUT_H
#define EBDUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest command (characters before the '%'); longer commands are rejected with e-[...]. */
#define EB_CMD_MAX_CHARS 80u

/* Size of the core's static download ("db") buffer. A port may use less (db_capacity_bytes).
 * The default is the reference generic MAX_DB_INPUT_SIZE (96 * 96 * 3). */
#ifndef EB_DB_BUFFER_BYTES
#define EB_DB_BUFFER_BYTES (96u * 96u * 3u)
#endif

/* Warm-up runs when 'infer N' is sent without W (10, as the reference firmware). */
#ifndef EB_DEFAULT_WARMUP
#define EB_DEFAULT_WARMUP 10u
#endif

/* Upper bound on 'infer' iterations and warm-ups accepted from the host. */
#ifndef EB_MAX_ITERATIONS
#define EB_MAX_ITERATIONS 1000000000u
#endif

/* Default low time of the timestamp pulse (energy mode), measured with the µs timer. */
#ifndef EB_DEFAULT_TS_HOLD_US
#define EB_DEFAULT_TS_HOLD_US 100u
#endif

#define EB_PROFILE_STRING "ULPMark for tinyML Firmware V0.0.1"

typedef enum { EB_MODE_PERFORMANCE = 0, EB_MODE_ENERGY = 1 } eb_mode;

typedef struct {
    eb_mode mode;              /* energy: timestamps are pin pulses; performance: m-lap-us lines */
    const char *dut_name;      /* reply of 'name': m-name-dut-[dut_name] */
    const char *model_name;    /* reply of 'profile': m-model-[model_name] (kws01, vww01, ...) */
    size_t db_capacity_bytes;  /* largest 'db load N' accepted; 0 or > EB_DB_BUFFER_BYTES = all */
    size_t input_size_bytes;   /* exact byte count the model needs; 0 = let the port decide */
    uint32_t ts_hold_us;       /* timestamp pulse low time; 0 = EB_DEFAULT_TS_HOLD_US */
} eb_config;

/* Boot: init UART/timer/pin/model through the port hooks, print the banner, one timestamp,
 * m-init-done and m-ready. Returns 0, or -1 when the model failed to initialise (the harness
 * still answers commands; 'infer' then reports the failure). */
int eb_init(const eb_config *config);

/* Feed one received byte; a '%' executes the assembled command (call from thread context). */
void eb_rx_byte(uint8_t byte);

/* Read bytes with eb_port_uart_getc() and feed them until it returns a negative value. */
void eb_run(void);

/* 64-bit µs since boot, extended from the port's 32-bit counter across its wraps. */
uint64_t eb_time_us(void);

/* Output helpers for ports (e.g. in eb_port_results); all write through eb_port_uart_putc. */
void eb_print(const char *text);
void eb_print_n(const char *text, size_t length);
void eb_print_u64(uint64_t value);
void eb_print_i64(int64_t value);
void eb_print_fixed3(double value);      /* like printf("%0.3f"); nan/inf spelled as printf */
void eb_print_trunc3(double value);      /* KWS-reference style: 3 decimals, truncated */
void eb_print_line_end(void);            /* "\r\n" */

/* Formatting into a caller buffer (no output); return the length written, buffer NUL-ended.
 * The buffer must hold at least EB_FMT_MAX bytes. */
#define EB_FMT_MAX 40u
size_t eb_format_u64(char *buffer, uint64_t value);
size_t eb_format_fixed3(char *buffer, double value);
size_t eb_format_trunc3(char *buffer, double value);

#ifdef __cplusplus
}
#endif

#endif /* EBDUT_H */
