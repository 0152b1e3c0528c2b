/*
 * ebdut_port_template.c - skeleton of an ebdut port: copy it into your board project, fill in
 * every hook, and build it with the core sources (firmware/src) and -Ifirmware/include. It
 * compiles as is (make test checks that) but does nothing useful until the TODOs are done.
 *
 * Build-time choices (define on the compiler command line or before including ebdut.h):
 *   EB_CFG_ENERGY_MODE   1 = energy build (timestamp pin pulses, usually 9600 baud through the
 *                        interface board), 0 = performance/accuracy build (m-lap-us lines).
 *   EB_DB_BUFFER_BYTES   size of the core's download buffer (default 27648 = 96*96*3).
 *   EB_DEFAULT_TS_HOLD_US  timestamp low time in µs (default 100).
 */
#include "ebdut/ebdut.h"
#include "ebdut/ebdut_port.h"

#ifndef EB_CFG_ENERGY_MODE
#define EB_CFG_ENERGY_MODE 0
#endif

/* Input bytes of the model (kws01 490, vww01 27648, ic01 3072, ad01 2560). */
#define PORT_INPUT_BYTES 490u

/* ------------------------------------------------------------------ UART */

/* Initialise the UART, 8N1. Reference bauds: energy 9600 (through the interface board's level
 * shifters), performance/accuracy 115200 (ad01 reference: 921600). */
void eb_port_uart_init(eb_mode mode)
{
    (void)mode; /* TODO: uart_init(mode == EB_MODE_ENERGY ? 9600 : 115200); */
}

/* Send one byte. Blocking is fine; the core only prints outside the timed window. */
void eb_port_uart_putc(char c)
{
    (void)c; /* TODO: wait for TX empty, write the data register */
}

/* Wait for and return one received byte (0..255). Return a negative value only to stop eb_run()
 * (a board normally never does). If bytes arrive in an ISR, queue them in a ring buffer there and
 * pop them here: commands must run in thread context, never inside the ISR. */
int eb_port_uart_getc(void)
{
    return -1; /* TODO: block until a byte is in the RX ring buffer, then return it */
}

/* ------------------------------------------------------------------ timer */

/* Start a free-running 32-bit counter at 1 MHz (>= 1 kHz resolution is the EEMBC minimum, 1 µs
 * is recommended). It may wrap at 2^32 µs (71.6 min): the core extends it to 64 bits. A 16-bit
 * hardware timer needs extending here (overflow interrupt) before returning 32 bits. */
void eb_port_timer_init(void)
{
    /* TODO: enable the timer clock, prescaler to 1 MHz, start counting */
}

/* Current counter value in µs. It must advance: the timestamp hold time is measured with it. */
uint32_t eb_port_timer_us(void)
{
    static uint32_t fake_us;
    return fake_us++; /* TODO: return the hardware counter */
}

/* ------------------------------------------------------------------ timestamp pin */

/* Configure the timestamp GPIO as an output at its released (high) level: open-drain with a
 * pull-up on the interface/analyser side, or push-pull through the level shifter. Only called
 * in energy mode. The core pulses it once at boot so the first real falling edge is clean. */
void eb_port_ts_pin_init(void)
{
    /* TODO: GPIO output, open-drain, set high (released) */
}

/* 0: drive low (the falling edge is the timestamp); 1: release high. The core keeps the pin low
 * for the configured hold time (EB_DEFAULT_TS_HOLD_US) measured with eb_port_timer_us(). */
void eb_port_ts_pin_write(int level)
{
    (void)level; /* TODO: write the GPIO output data register */
}

/* ------------------------------------------------------------------ model */

/* One-time model setup (th_final_initialize): load weights, allocate the tensor arena. */
int eb_port_model_init(void)
{
    return 0; /* TODO: interpreter setup; non-zero makes the core report the failure */
}

/* Convert the downloaded bytes into the model input (th_load_tensor). Called outside timing,
 * after the core has checked length == PORT_INPUT_BYTES. Return non-zero to reject. */
int eb_port_load_tensor(const uint8_t *data, size_t length)
{
    (void)data;
    (void)length; /* TODO: copy/convert into the input tensor (e.g. uint8 - 128 for vww01) */
    return 0;
}

/* Before the timed loop of 'iterations' inferences (th_pre), after the start timestamp. */
void eb_port_pre(uint32_t iterations) { (void)iterations; }

/* One inference (th_infer). */
void eb_port_infer(void)
{
    /* TODO: interpreter invoke */
}

/* After the timed loop (th_post), before the end timestamp. */
void eb_port_post(void) {}

/* Print exactly one m-results-[...] line in your model's reference format (th_results):
 * kws01 3 decimals, vww01 "%0.3f," per class (trailing comma), ic01 "%0.3f" comma-separated,
 * ad01 one "%0.3f" value. Use eb_print_fixed3 / eb_print_trunc3: no printf needed. */
void eb_port_results(void)
{
    eb_print("m-results-[");
    eb_print_fixed3(0.0); /* TODO: the model outputs */
    eb_print("]");
    eb_print_line_end();
}

/* ------------------------------------------------------------------ main */

/* Board main(): clocks and pins first, then the harness (rename if your startup code differs). */
int main(void)
{
    eb_config config = {0};
    config.mode = EB_CFG_ENERGY_MODE ? EB_MODE_ENERGY : EB_MODE_PERFORMANCE;
    config.dut_name = "my-board";    /* TODO: reply of 'name' */
    config.model_name = "kws01";     /* TODO: kws01, vww01, ic01 or ad01 */
    config.db_capacity_bytes = PORT_INPUT_BYTES;
    config.input_size_bytes = PORT_INPUT_BYTES;
    config.ts_hold_us = 0;           /* 0: EB_DEFAULT_TS_HOLD_US */
    eb_init(&config);
    eb_run();                        /* returns only if eb_port_uart_getc() returns < 0 */
    return 0;
}
