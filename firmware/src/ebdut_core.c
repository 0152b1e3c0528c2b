/*
 * ebdut_core.c - framing, dispatch and the non-'db' commands of the MLPerf Tiny DUT protocol.
 * Reply strings follow the reference firmware (benchmark/api/internally_implemented.cpp) so its
 * runners accept this harness; every error is an "e-[...]" line and every command, valid or
 * not, ends with "m-ready".
 */
#include "ebdut_internal.h"

static eb_config g_config;
static int g_ready;          /* parser enabled once eb_init has finished */
static int g_model_ok;
static int g_have_results;

static char g_command[EB_CMD_MAX_CHARS];
static size_t g_command_length;
static uint32_t g_overflow_length; /* > 0 while discarding an overlong command (saturating) */

/* Consecutive identical timer reads after which a timestamp hold gives up. */
#define EB_TIMER_STALL_READS (1ul << 24)

static uint32_t g_timer_last;
static uint64_t g_timer_total;

/* ---------------------------------------------------------------- time and timestamps */

uint64_t eb_time_us(void)
{
    uint32_t now = eb_port_timer_us();
    g_timer_total += (uint32_t)(now - g_timer_last); /* modulo 2^32: wrap-safe */
    g_timer_last = now;
    return g_timer_total;
}

static void print_lap(uint64_t time_us)
{
    eb_print("m-lap-us-");
    eb_print_u64(time_us);
    eb_print_line_end();
}

/* Energy mode: falling edge, hold low for ts_hold_us measured by the timer, release. */
static uint64_t timestamp_pulse(void)
{
    uint64_t start;
    uint64_t now;
    uint32_t stalled = 0;
    eb_port_ts_pin_write(0);
    start = now = eb_time_us(); /* after the edge: the low time is at least ts_hold_us */
    while (now - start < g_config.ts_hold_us) {
        uint64_t previous = now;
        now = eb_time_us();
        if (now != previous) {
            stalled = 0;
        } else if (++stalled >= EB_TIMER_STALL_READS) {
            break; /* the port's timer does not advance: release rather than hang */
        }
    }
    eb_port_ts_pin_write(1);
    return start;
}

/* One timestamp: a pin pulse (energy) or the current time (performance, printed by caller). */
static uint64_t take_timestamp(void)
{
    return g_config.mode == EB_MODE_ENERGY ? timestamp_pulse() : eb_time_us();
}

/* ---------------------------------------------------------------- commands */

static void print_message(const char *prefix, const char *value, const char *suffix)
{
    eb_print(prefix);
    eb_print(value);
    eb_print(suffix);
    eb_print_line_end();
}


static void command_help(void)
{
    static const char *const lines[] = {
        EB_PROFILE_STRING,
        "",
        "help                : Print this information",
        "name                : Print the name of the device",
        "profile             : Print the profile and the model name",
        "timestamp           : Generate a timestamp (energy: pin pulse; performance: m-lap-us)",
        "db SUBCMD           : Manipulate the input buffer",
        "  load N            : Expect N bytes (at most the buffer size)",
        "  HH[HH]*           : Load 8-bit hex bytes (even digit count) until N bytes",
        "  print [N] [off]   : Print N bytes (default all) from offset off (default 0)",
        "infer N [W]         : Run W warm-ups then N timed inferences; N=1, W=10 by default",
        "results             : Print the results of the last inference",
    };
    size_t i;
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        eb_print(lines[i]);
        eb_print_line_end();
    }
}

static int parse_count(const eb_token *token, uint32_t *value, const char *what, int allow_zero)
{
    eb_num_status status = eb_parse_u32(token, EB_MAX_ITERATIONS, value);
    if (status == EB_NUM_INVALID) {
        eb_print_error_begin();
        eb_print("Invalid number '");
        eb_print_token(token);
        eb_print("' for ");
        eb_print(what);
        eb_print_error_end();
        return 0;
    }
    if (status == EB_NUM_NEGATIVE || (!allow_zero && *value == 0u)) {
        eb_print_error(allow_zero ? "Inference warmup must be >=0"
                                  : "Inference iterations must be >0");
        return 0;
    }
    if (status == EB_NUM_TOO_BIG) {
        eb_print_error_begin();
        eb_print(what);
        eb_print(" must be <=");
        eb_print_u64(EB_MAX_ITERATIONS);
        eb_print_error_end();
        return 0;
    }
    return 1;
}

/* Checks the downloaded input before any timing starts; prints the reason on failure. */
static int input_ready(void)
{
    size_t received = eb_db_received();
    if (!g_model_ok) {
        eb_print_error("Model initialisation failed; cannot infer");
        return 0;
    }
    if (eb_db_expected() == 0u || received < eb_db_expected()) {
        eb_print_error_begin();
        eb_print("Input incomplete: ");
        eb_print_u64(received);
        eb_print(" of ");
        eb_print_u64(eb_db_expected());
        eb_print(" bytes loaded with 'db'");
        eb_print_error_end();
        return 0;
    }
    if (g_config.input_size_bytes != 0u && received != g_config.input_size_bytes) {
        /* Reference-style sanity line (th_load_tensor), then the error. */
        eb_print("Input db has ");
        eb_print_u64(received);
        eb_print(" bytes, expected ");
        eb_print_u64(g_config.input_size_bytes);
        eb_print_line_end();
        eb_print_error_begin();
        eb_print("Input size mismatch: model ");
        eb_print(g_config.model_name);
        eb_print(" needs ");
        eb_print_u64(g_config.input_size_bytes);
        eb_print(" bytes");
        eb_print_error_end();
        return 0;
    }
    if (eb_port_load_tensor(eb_db_data(), received) != 0) {
        eb_print_error("Model input rejected by the port (eb_port_load_tensor)");
        return 0;
    }
    return 1;
}

static void run_inferences(uint32_t count)
{
    uint32_t i;
    for (i = 0; i < count; i++) {
        eb_port_infer();
        if ((i & 0xFFu) == 0xFFu) {
            (void)eb_time_us(); /* keep the 64-bit extension ahead of 32-bit wraps */
        }
    }
}

static void command_infer(const eb_token *tokens, size_t count)
{
    uint32_t iterations = 1;
    uint32_t warmups = EB_DEFAULT_WARMUP;
    uint64_t start_us;
    uint64_t end_us;
    if (count > 3u) {
        eb_print_error("Command 'infer' takes at most N and W");
        return;
    }
    if ((count >= 2u && !parse_count(&tokens[1], &iterations, "infer iterations", 0)) ||
        (count >= 3u && !parse_count(&tokens[2], &warmups, "infer warmups", 1)) ||
        !input_ready()) {
        return;
    }
    eb_print("m-warmup-start-");
    eb_print_u64(warmups);
    eb_print_line_end();
    run_inferences(warmups);
    eb_print("m-warmup-done");
    eb_print_line_end();
    eb_print("m-infer-start-");
    eb_print_u64(iterations);
    eb_print_line_end();
    start_us = take_timestamp();
    eb_port_pre(iterations);
    run_inferences(iterations);
    eb_port_post();
    end_us = take_timestamp();
    if (g_config.mode == EB_MODE_PERFORMANCE) {
        /* Both values printed after the loop: no UART output inside the timed window. */
        print_lap(start_us);
        print_lap(end_us);
    }
    eb_print("m-infer-done");
    eb_print_line_end();
    g_have_results = 1;
    eb_port_results();
}

static int takes_no_arguments(const eb_token *command)
{
    return eb_token_is(command, "name") || eb_token_is(command, "profile") ||
           eb_token_is(command, "help") || eb_token_is(command, "timestamp") ||
           eb_token_is(command, "results");
}

static void dispatch(char *text, size_t length)
{
    eb_token tokens[EB_MAX_TOKENS + 1u];
    size_t count;
    while (length > 0u && (text[length - 1u] == ' ' || text[length - 1u] == '\t' ||
                           text[length - 1u] == '\r' || text[length - 1u] == '\n')) {
        length--;
    }
    count = eb_tokenize(text, length, tokens);
    if (count == 0u) {
        eb_print_error("Empty command");
    } else if (count > 1u && takes_no_arguments(&tokens[0])) {
        eb_print_error_begin();
        eb_print("Command '");
        eb_print_token(&tokens[0]);
        eb_print("' takes no arguments");
        eb_print_error_end();
    } else if (eb_token_is(&tokens[0], "name")) {
        print_message("m-name-dut-[", g_config.dut_name, "]");
    } else if (eb_token_is(&tokens[0], "profile")) {
        print_message("m-profile-[", EB_PROFILE_STRING, "]");
        print_message("m-model-[", g_config.model_name, "]");
    } else if (eb_token_is(&tokens[0], "help")) {
        command_help();
    } else if (eb_token_is(&tokens[0], "timestamp")) {
        uint64_t now_us = take_timestamp();
        if (g_config.mode == EB_MODE_PERFORMANCE) {
            print_lap(now_us);
        }
    } else if (eb_token_is(&tokens[0], "db")) {
        eb_db_command(tokens, count);
    } else if (eb_token_is(&tokens[0], "infer")) {
        command_infer(tokens, count);
    } else if (eb_token_is(&tokens[0], "results")) {
        if (g_have_results) {
            eb_port_results();
        } else {
            eb_print_error("No results yet: run 'infer' first");
        }
    } else {
        eb_print_error_begin();
        eb_print("Unknown command: ");
        eb_print_token(&tokens[0]);
        eb_print_error_end();
    }
    eb_print("m-ready");
    eb_print_line_end();
}

/* ---------------------------------------------------------------- framing and boot */

void eb_rx_byte(uint8_t byte)
{
    if (!g_ready) {
        return; /* parser disabled until boot has finished, as the reference */
    }
    (void)eb_time_us(); /* keeps the 64-bit extension ahead of 32-bit counter wraps */
    if (byte == (uint8_t)'%') {
        if (g_overflow_length > 0u) {
            eb_print_error_begin();
            eb_print("Command of ");
            eb_print_u64(g_overflow_length);
            eb_print(g_overflow_length == 0xFFFFFFFFu ? "+" : "");
            eb_print(" characters exceeds the maximum of ");
            eb_print_u64(EB_CMD_MAX_CHARS);
            eb_print("; discarded");
            eb_print_error_end();
            eb_print("m-ready");
            eb_print_line_end();
        } else {
            dispatch(g_command, g_command_length);
        }
        g_command_length = 0;
        g_overflow_length = 0;
        return;
    }
    if (g_overflow_length > 0u) {
        if (g_overflow_length < 0xFFFFFFFFu) {
            g_overflow_length++;
        }
        return;
    }
    if (g_command_length == 0u &&
        (byte == ' ' || byte == '\t' || byte == '\r' || byte == '\n')) {
        return; /* CR/LF left over from a terminal or a previous line */
    }
    if (g_command_length >= EB_CMD_MAX_CHARS) {
        g_overflow_length = (uint32_t)g_command_length + 1u;
        return;
    }
    g_command[g_command_length++] = (char)byte;
}

void eb_run(void)
{
    int c;
    while ((c = eb_port_uart_getc()) >= 0) {
        eb_rx_byte((uint8_t)c);
    }
}

int eb_init(const eb_config *config)
{
    g_config = *config;
    if (g_config.ts_hold_us == 0u) {
        g_config.ts_hold_us = EB_DEFAULT_TS_HOLD_US;
    }
    if (g_config.dut_name == NULL) {
        g_config.dut_name = "unspecified";
    }
    if (g_config.model_name == NULL) {
        g_config.model_name = "unspecified";
    }
    g_ready = 0;
    g_have_results = 0;
    g_command_length = 0;
    g_overflow_length = 0;
    eb_db_configure(g_config.db_capacity_bytes);
    eb_port_uart_init(g_config.mode);
    eb_port_timer_init();
    g_timer_last = eb_port_timer_us();
    g_timer_total = g_timer_last; /* µs since the port timer started, like m-lap-us */
    if (g_config.mode == EB_MODE_ENERGY) {
        eb_port_ts_pin_init();
    }
    eb_print(g_config.mode == EB_MODE_ENERGY ? "m-timestamp-mode-energy"
                                             : "m-timestamp-mode-performance");
    eb_print_line_end();
    {
        /* One timestamp at boot so the pin is released high before the first falling edge. */
        uint64_t boot_us = take_timestamp();
        if (g_config.mode == EB_MODE_PERFORMANCE) {
            print_lap(boot_us);
        }
    }
    g_model_ok = eb_port_model_init() == 0;
    if (!g_model_ok) {
        eb_print_error("Model initialisation failed (eb_port_model_init)");
    }
    eb_print("m-init-done");
    eb_print_line_end();
    g_ready = 1;
    eb_print("m-ready");
    eb_print_line_end();
    return g_model_ok ? 0 : -1;
}
