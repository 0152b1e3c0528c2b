/* test_core.c - unit tests of the ebdut core against the mock port: exact reply strings,
 * bounds checks, framing, timestamps, 64-bit time across 32-bit wraps, number formatting. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebdut/ebdut.h"
#include "minitest.h"
#include "mock_port.h"

static const char *send(const char *text)
{
    size_t i;
    size_t length = strlen(text);
    for (i = 0; i < length; i++) {
        eb_rx_byte((uint8_t)text[i]);
    }
    return mock_take_output();
}

static const char *send_bytes(const char *bytes, size_t length)
{
    size_t i;
    for (i = 0; i < length; i++) {
        eb_rx_byte((uint8_t)bytes[i]);
    }
    return mock_take_output();
}

static eb_config make_config(eb_mode mode)
{
    eb_config config;
    memset(&config, 0, sizeof config);
    config.mode = mode;
    config.dut_name = "unit";
    config.model_name = "kws01";
    config.db_capacity_bytes = 16;
    config.input_size_bytes = 10;
    config.ts_hold_us = 50;
    return config;
}

static void boot(eb_mode mode)
{
    eb_config config = make_config(mode);
    mock_reset();
    g_mock.timer_us = 1000;
    eb_init(&config);
    (void)mock_take_output();
    g_mock.log_length = 0;
    g_mock.log[0] = '\0';
}

/* Load bytes 00 01 02 ... (count of them) in one chunk after 'db load count'. */
static void load_counting(unsigned count)
{
    char command[96] = "db ";
    unsigned i;
    char text[64];
    snprintf(text, sizeof text, "db load %u%%", count);
    send(text);
    for (i = 0; i < count; i++) {
        snprintf(command + 3 + 2 * i, 3, "%02x", i & 0xFFu);
    }
    strcat(command, "%");
    send(command);
}

static void test_parser_disabled_before_init(void)
{
    mock_reset();
    CHECK_STR(send("name%"), "");
}

static void test_boot_performance(void)
{
    eb_config config = make_config(EB_MODE_PERFORMANCE);
    mock_reset();
    g_mock.timer_us = 1000;
    CHECK(eb_init(&config) == 0);
    CHECK_STR(mock_take_output(),
              "m-timestamp-mode-performance\r\nm-lap-us-1001\r\nm-init-done\r\nm-ready\r\n");
    CHECK(g_mock.falls == 0);
}

static void test_boot_energy_pulse_hold(void)
{
    eb_config config = make_config(EB_MODE_ENERGY);
    mock_reset();
    g_mock.timer_step_us = 3;
    CHECK(eb_init(&config) == 0);
    CHECK_STR(mock_take_output(), "m-timestamp-mode-energy\r\nm-init-done\r\nm-ready\r\n");
    CHECK(g_mock.falls == 1 && g_mock.rises == 1);
    CHECK(g_mock.rise_times[0] - g_mock.fall_times[0] >= 50u);
    CHECK(g_mock.rise_times[0] - g_mock.fall_times[0] < 50u + 3u * 3u);
    CHECK(g_mock.pin_level == 1);
}

static void test_stalled_timer_does_not_hang(void)
{
    eb_config config = make_config(EB_MODE_ENERGY);
    mock_reset();
    g_mock.timer_step_us = 0;
    CHECK(eb_init(&config) == 0);
    CHECK(g_mock.falls == 1 && g_mock.rises == 1 && g_mock.pin_level == 1);
    (void)mock_take_output();
}

static void test_model_init_failure(void)
{
    eb_config config = make_config(EB_MODE_PERFORMANCE);
    mock_reset();
    g_mock.model_init_result = 7;
    CHECK(eb_init(&config) == -1);
    CHECK_CONTAINS(mock_take_output(), "e-[Model initialisation failed (eb_port_model_init)]\r\n");
    load_counting(10);
    CHECK_STR(send("infer 1 0%"), "e-[Model initialisation failed; cannot infer]\r\nm-ready\r\n");
}

static void test_identification(void)
{
    boot(EB_MODE_PERFORMANCE);
    CHECK_STR(send("name%"), "m-name-dut-[unit]\r\nm-ready\r\n");
    CHECK_STR(send("profile%"),
              "m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[kws01]\r\nm-ready\r\n");
    CHECK_CONTAINS(send("help%"), "ULPMark for tinyML Firmware V0.0.1\r\n\r\n");
    CHECK_CONTAINS(send("help%"), "W=10 by default");
    CHECK_STR(send("name extra%"), "e-[Command 'name' takes no arguments]\r\nm-ready\r\n");
}

static void test_framing(void)
{
    char command[128];
    boot(EB_MODE_PERFORMANCE);
    CHECK_STR(send("\r\nname \r\n%"), "m-name-dut-[unit]\r\nm-ready\r\n");
    CHECK_STR(send("%"), "e-[Empty command]\r\nm-ready\r\n");
    CHECK_STR(send("bogus 1 2%"), "e-[Unknown command: bogus]\r\nm-ready\r\n");
    CHECK_STR(send_bytes("a\x01\xff\0b%", 6), "e-[Unknown command: a??\?b]\r\nm-ready\r\n");
    /* exactly 80 characters is accepted, 81 is rejected with its length, then resync */
    memset(command, ' ', 80);
    memcpy(command, "name", 4);
    command[80] = '%';
    command[81] = '\0';
    CHECK_STR(send(command), "m-name-dut-[unit]\r\nm-ready\r\n");
    memset(command, 'x', 81);
    command[81] = '%';
    command[82] = '\0';
    CHECK_STR(send(command),
              "e-[Command of 81 characters exceeds the maximum of 80; discarded]\r\nm-ready\r\n");
    CHECK_STR(send("name%"), "m-name-dut-[unit]\r\nm-ready\r\n");
}

static void test_db_load_and_print(void)
{
    boot(EB_MODE_PERFORMANCE);
    CHECK_STR(send("db load 10%"), "m-[Expecting 10 bytes]\r\nm-ready\r\n");
    CHECK_STR(send("db 0001020304%"), "m-ready\r\n");
    CHECK_STR(send("db 05060708aB%"), "m-load-done\r\nm-ready\r\n");
    CHECK_STR(send("db print%"),
              "m-buffer-00-01-02-03-04-05-06-07\r\nm-buffer-08-ab\r\nm-ready\r\n");
    CHECK_STR(send("db print 2 8%"), "m-buffer-08-ab\r\nm-ready\r\n");
    CHECK_STR(send("db print 3 8%"),
              "e-[db print range exceeds the 10 bytes received]\r\nm-ready\r\n");
    CHECK_STR(send("db print x%"),
              "e-[Command 'db print' needs non-negative decimal N and offset]\r\nm-ready\r\n");
    CHECK_STR(send("db 00%"),
              "e-[All 10 bytes already loaded; send 'db load N' first]\r\nm-ready\r\n");
}

static void test_db_errors(void)
{
    boot(EB_MODE_PERFORMANCE);
    CHECK_STR(send("db%"), "e-[Command 'db' requires a subcommand]\r\nm-ready\r\n");
    CHECK_STR(send("db load%"), "e-[Command 'db load' requires the # of bytes]\r\nm-ready\r\n");
    CHECK_STR(send("db load 0%"), "e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n");
    CHECK_STR(send("db load -4%"), "e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n");
    CHECK_STR(send("db load 1x%"), "e-[Invalid byte count '1x' for 'db load']\r\nm-ready\r\n");
    CHECK_STR(send("db 00%"), "e-[Command 'db' data needs a prior 'db load N']\r\nm-ready\r\n");
    CHECK_STR(send("db load 4%"), "m-[Expecting 4 bytes]\r\nm-ready\r\n");
    /* oversize: rejected, and the pending load is cancelled */
    CHECK_STR(send("db load 17%"),
              "e-[Supplied buffer size 17 exceeds maximum of 16]\r\nm-ready\r\n");
    CHECK_STR(send("db load 99999999999999999999%"),
              "e-[Supplied buffer size 99999999999999999999 exceeds maximum of 16]\r\nm-ready\r\n");
    CHECK_STR(send("db 00%"), "e-[Command 'db' data needs a prior 'db load N']\r\nm-ready\r\n");
    CHECK_STR(send("db load 16%"), "m-[Expecting 16 bytes]\r\nm-ready\r\n");
    CHECK_STR(send("db 123%"), "e-[Insufficent number of hex digits]\r\nm-ready\r\n");
    CHECK_STR(send("db 12zz%"), "e-[Invalid hex digit 'zz']\r\nm-ready\r\n");
    CHECK_STR(send("db 0g%"), "e-[Invalid hex digit '0g']\r\nm-ready\r\n");
    CHECK_STR(send("db 00 11%"),
              "e-[Command 'db' takes one hex string without spaces]\r\nm-ready\r\n");
    CHECK_STR(send("db 00112233445566778899aabbccddeeff00%"),
              "e-[db data exceeds the expected size: 17 bytes sent, 16 remaining]\r\nm-ready\r\n");
    /* nothing of the rejected chunks was written */
    CHECK_STR(send("db print%"), "m-ready\r\n");
    CHECK_STR(send("db ffeeddccbbaa99887766554433221100%"), "m-load-done\r\nm-ready\r\n");
    CHECK_CONTAINS(send("db print%"), "m-buffer-ff-ee-dd-cc-bb-aa-99-88\r\n");
}

static void test_infer_performance(void)
{
    const char *out;
    unsigned long long start_us = 0;
    unsigned long long end_us = 0;
    boot(EB_MODE_PERFORMANCE);
    load_counting(10);
    g_mock.log_length = 0;
    out = send("infer 3 2%");
    CHECK(sscanf(out,
                 "m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\nm-lap-us-%llu\r\n"
                 "m-lap-us-%llu\r\n",
                 &start_us, &end_us) == 2);
    CHECK(end_us > start_us);
    CHECK_CONTAINS(out, "\r\nm-infer-done\r\nm-results-[0.250,0.750]\r\nm-ready\r\n");
    CHECK_STR(g_mock.log, "LIIPIIIOS");
    CHECK(g_mock.last_pre_iterations == 3);
    CHECK(g_mock.last_load_length == 10 && g_mock.last_load_first == 0);
    CHECK_STR(send("results%"), "m-results-[0.250,0.750]\r\nm-ready\r\n");
    /* defaults: N = 1, W = 10 */
    g_mock.infer_calls = 0;
    CHECK_CONTAINS(send("infer%"), "m-warmup-start-10\r\nm-warmup-done\r\nm-infer-start-1\r\n");
    CHECK(g_mock.infer_calls == 11);
    CHECK_CONTAINS(send("infer 4%"), "m-warmup-start-10\r\n");
    CHECK_CONTAINS(send("timestamp%"), "m-lap-us-");
}

static void test_infer_energy(void)
{
    const char *out;
    boot(EB_MODE_ENERGY);
    load_counting(10);
    g_mock.log_length = 0;
    g_mock.falls = g_mock.rises = 0;
    out = send("infer 2 1%");
    CHECK_STR(out, "m-warmup-start-1\r\nm-warmup-done\r\nm-infer-start-2\r\nm-infer-done\r\n"
                   "m-results-[0.250,0.750]\r\nm-ready\r\n");
    CHECK_STR(g_mock.log, "LIFRPIIOFRS");
    CHECK(g_mock.falls == 2 && g_mock.rises == 2);
    CHECK_STR(send("timestamp%"), "m-ready\r\n");
    CHECK(g_mock.falls == 3);
}

static void test_infer_errors(void)
{
    boot(EB_MODE_PERFORMANCE);
    CHECK_STR(send("results%"), "e-[No results yet: run 'infer' first]\r\nm-ready\r\n");
    CHECK_STR(send("infer 1 0%"),
              "e-[Input incomplete: 0 of 0 bytes loaded with 'db']\r\nm-ready\r\n");
    load_counting(9);
    CHECK_STR(send("infer 1 0%"), "Input db has 9 bytes, expected 10\r\n"
                                  "e-[Input size mismatch: model kws01 needs 10 bytes]\r\n"
                                  "m-ready\r\n");
    load_counting(10);
    CHECK_STR(send("infer 0%"), "e-[Inference iterations must be >0]\r\nm-ready\r\n");
    CHECK_STR(send("infer -2%"), "e-[Inference iterations must be >0]\r\nm-ready\r\n");
    CHECK_STR(send("infer 1 -1%"), "e-[Inference warmup must be >=0]\r\nm-ready\r\n");
    CHECK_STR(send("infer x%"), "e-[Invalid number 'x' for infer iterations]\r\nm-ready\r\n");
    CHECK_STR(send("infer 1000000001%"),
              "e-[infer iterations must be <=1000000000]\r\nm-ready\r\n");
    CHECK_STR(send("infer 1 2 3%"), "e-[Command 'infer' takes at most N and W]\r\nm-ready\r\n");
    g_mock.load_result = 1;
    CHECK_STR(send("infer 1 0%"),
              "e-[Model input rejected by the port (eb_port_load_tensor)]\r\nm-ready\r\n");
    CHECK(g_mock.infer_calls == 0);
}

static void test_timer_wrap(void)
{
    eb_config config = make_config(EB_MODE_PERFORMANCE);
    unsigned long long boot_us = 0;
    unsigned long long later_us = 0;
    mock_reset();
    g_mock.timer_us = 0xFFFFFF00u;
    g_mock.timer_step_us = 0x40000000u; /* a quarter of the range per read */
    eb_init(&config);
    CHECK(sscanf(mock_take_output(), "m-timestamp-mode-performance\r\nm-lap-us-%llu", &boot_us) ==
          1);
    CHECK(sscanf(send("timestamp%"), "m-lap-us-%llu", &later_us) == 1);
    CHECK(boot_us == 0xFFFFFF00ull + 0x40000000ull);
    CHECK(later_us > 0x100000000ull); /* past the 32-bit wrap, still increasing */
    CHECK(later_us > boot_us);
}

static void test_formatting(void)
{
    char got[EB_FMT_MAX];
    char want[64];
    unsigned i;
    uint32_t state = 12345u;
    static const float specials[] = {0.0f,    -0.0f,    0.0005f, 0.0015f,   0.0025f, 1.0f,
                                     0.9995f, -1.2345f, 1e10f,   123.4565f, 2.5e-4f, 1e15f};
    for (i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        eb_format_fixed3(got, specials[i]);
        snprintf(want, sizeof want, "%0.3f", (double)specials[i]);
        CHECK_STR(got, want);
    }
    for (i = 0; i < 200000u; i++) {
        float value;
        uint32_t bits;
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bits = state;
        if (i % 2u == 0u) {
            value = (float)(state % 20000000u) / 1000.0f - 10000.0f; /* near ties */
        } else {
            bits = (bits & 0x807FFFFFu) | ((0x60u + (bits >> 24) % 0x38u) << 23); /* 1e-10..1e7 */
            memcpy(&value, &bits, sizeof value);
        }
        eb_format_fixed3(got, value);
        snprintf(want, sizeof want, "%0.3f", (double)value);
        if (strcmp(got, want) != 0) {
            CHECK_STR(got, want);
            break;
        }
    }
    eb_format_fixed3(got, 0.0 / 1.0 * 0.0);
    CHECK_STR(got, "0.000");
    eb_format_trunc3(got, 0.9999);
    CHECK_STR(got, "0.999");
    eb_format_trunc3(got, 1.0);
    CHECK_STR(got, "1.000");
    eb_format_trunc3(got, 0.0);
    CHECK_STR(got, "0.000");
    eb_format_trunc3(got, -1.2345);
    CHECK_STR(got, "-1.234");
    eb_format_trunc3(got, -0.0004); /* truncates to zero: no sign */
    CHECK_STR(got, "0.000");
    eb_format_trunc3(got, 123.4567);
    CHECK_STR(got, "123.456");
    eb_format_fixed3(got, 1e300);
    CHECK(strtod(got, NULL) > 0.99e300 && strtod(got, NULL) < 1.01e300);
    eb_format_u64(got, UINT64_MAX);
    CHECK_STR(got, "18446744073709551615");
    eb_format_fixed3(got, strtod("nan", NULL));
    CHECK_STR(got, "nan");
    eb_format_fixed3(got, -strtod("inf", NULL));
    CHECK_STR(got, "-inf");
}

static void test_run_loop(void)
{
    static const char input[] = "name%profile%";
    unsigned long before;
    boot(EB_MODE_PERFORMANCE);
    before = g_mock.ready_lines;
    g_mock.input = input;
    g_mock.input_length = sizeof input - 1u;
    eb_run();
    CHECK(g_mock.ready_lines - before == 2);
}

int main(void)
{
    test_parser_disabled_before_init();
    test_boot_performance();
    test_boot_energy_pulse_hold();
    test_stalled_timer_does_not_hang();
    test_model_init_failure();
    test_identification();
    test_framing();
    test_db_load_and_print();
    test_db_errors();
    test_infer_performance();
    test_infer_energy();
    test_infer_errors();
    test_timer_wrap();
    test_formatting();
    test_run_loop();
    return TEST_SUMMARY("test_core");
}
