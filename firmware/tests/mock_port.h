/* mock_port.h - an ebdut port for the C tests: captured output, scripted timer, recorded pin. */
#ifndef MOCK_PORT_H
#define MOCK_PORT_H

#include <stddef.h>
#include <stdint.h>

#define MOCK_OUTPUT_MAX (1u << 20)
#define MOCK_LOG_MAX 4096u

typedef struct {
    /* output: captured (capture = 1) or only checked line by line (capture = 0) */
    int capture;
    char output[MOCK_OUTPUT_MAX];
    size_t output_length;
    size_t output_dropped;
    char line[256];
    size_t line_length;
    unsigned long lines;
    unsigned long ready_lines;
    unsigned long error_lines;
    unsigned long bad_lines; /* too long, non-printable, or a lone CR/LF */
    /* timer: value returned, then advanced by step */
    uint32_t timer_us;
    uint32_t timer_step_us;
    /* call log: F fall, R rise, P pre, I infer, O post, L load, S results */
    char log[MOCK_LOG_MAX];
    size_t log_length;
    uint64_t infer_calls;
    uint32_t last_pre_iterations;
    uint32_t fall_times[64];
    uint32_t rise_times[64];
    size_t falls;
    size_t rises;
    int pin_level;
    int model_init_result;
    int load_result;
    size_t last_load_length;
    uint8_t last_load_first;
    const char *input;     /* bytes returned by eb_port_uart_getc, then -1 */
    size_t input_length;
    size_t input_position;
} mock_state;

extern mock_state g_mock;

void mock_reset(void);
/* Captured output as a NUL-terminated string, then cleared. */
const char *mock_take_output(void);

#endif /* MOCK_PORT_H */
