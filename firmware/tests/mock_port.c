/* mock_port.c - see mock_port.h. */
#include "mock_port.h"

#include <string.h>

#include "ebdut/ebdut_port.h"

mock_state g_mock;
static char g_taken[MOCK_OUTPUT_MAX + 1];

void mock_reset(void)
{
    memset(&g_mock, 0, sizeof g_mock);
    g_mock.capture = 1;
    g_mock.timer_step_us = 1;
    g_mock.pin_level = -1;
}

const char *mock_take_output(void)
{
    memcpy(g_taken, g_mock.output, g_mock.output_length);
    g_taken[g_mock.output_length] = '\0';
    g_mock.output_length = 0;
    return g_taken;
}

static void add_log(char event)
{
    if (g_mock.log_length + 1u < MOCK_LOG_MAX) {
        g_mock.log[g_mock.log_length++] = event;
        g_mock.log[g_mock.log_length] = '\0';
    }
}

static void check_line(void)
{
    size_t i;
    g_mock.lines++;
    for (i = 0; i < g_mock.line_length; i++) {
        char c = g_mock.line[i];
        if (c < ' ' || c > '~') {
            g_mock.bad_lines++;
            break;
        }
    }
    if (g_mock.line_length >= sizeof g_mock.line - 1u) {
        g_mock.bad_lines++;
    }
    if (g_mock.line_length == 7u && memcmp(g_mock.line, "m-ready", 7u) == 0) {
        g_mock.ready_lines++;
    }
    if (g_mock.line_length >= 3u && memcmp(g_mock.line, "e-[", 3u) == 0 &&
        g_mock.line[g_mock.line_length - 1u] == ']') {
        g_mock.error_lines++;
    }
    g_mock.line_length = 0;
}

void eb_port_uart_init(eb_mode mode) { (void)mode; }

void eb_port_uart_putc(char c)
{
    if (g_mock.capture) {
        if (g_mock.output_length < MOCK_OUTPUT_MAX) {
            g_mock.output[g_mock.output_length++] = c;
        } else {
            g_mock.output_dropped++;
        }
    }
    /* Every line must end in CR LF: CR is only allowed right before LF. */
    if (c == '\n') {
        if (g_mock.line_length == 0u || g_mock.line[g_mock.line_length - 1u] != '\r') {
            g_mock.bad_lines++;
        } else {
            g_mock.line_length--;
        }
        check_line();
    } else if (g_mock.line_length < sizeof g_mock.line - 1u) {
        g_mock.line[g_mock.line_length++] = c;
    }
}

int eb_port_uart_getc(void)
{
    if (g_mock.input == NULL || g_mock.input_position >= g_mock.input_length) {
        return -1;
    }
    return (unsigned char)g_mock.input[g_mock.input_position++];
}

void eb_port_timer_init(void) {}

uint32_t eb_port_timer_us(void)
{
    uint32_t now = g_mock.timer_us;
    g_mock.timer_us += g_mock.timer_step_us;
    return now;
}

void eb_port_ts_pin_init(void) { g_mock.pin_level = 1; }

void eb_port_ts_pin_write(int level)
{
    if (level == 0) {
        if (g_mock.falls < 64u) {
            g_mock.fall_times[g_mock.falls] = g_mock.timer_us;
        }
        g_mock.falls++;
        add_log('F');
    } else {
        if (g_mock.rises < 64u) {
            g_mock.rise_times[g_mock.rises] = g_mock.timer_us;
        }
        g_mock.rises++;
        add_log('R');
    }
    g_mock.pin_level = level;
}

int eb_port_model_init(void) { return g_mock.model_init_result; }

int eb_port_load_tensor(const uint8_t *data, size_t length)
{
    g_mock.last_load_length = length;
    g_mock.last_load_first = length > 0u ? data[0] : 0u;
    add_log('L');
    return g_mock.load_result;
}

void eb_port_pre(uint32_t iterations)
{
    g_mock.last_pre_iterations = iterations;
    add_log('P');
}

void eb_port_infer(void)
{
    g_mock.infer_calls++;
    if (g_mock.infer_calls < 64u) {
        add_log('I');
    }
}

void eb_port_post(void) { add_log('O'); }

void eb_port_results(void)
{
    add_log('S');
    eb_print("m-results-[");
    eb_print_fixed3(0.25);
    eb_print(",");
    eb_print_trunc3(0.75);
    eb_print("]");
    eb_print_line_end();
}
