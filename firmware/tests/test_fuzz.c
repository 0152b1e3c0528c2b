/* test_fuzz.c - adversarial and random input against the core (built with ASan/UBSan):
 * overlong commands, bad hex, oversize loads, binary noise, many MB. Checks after every chunk
 * that each '%' got exactly one m-ready, every known-bad command an e-[...] line, every output
 * line is printable ASCII ending in CR LF, the pin is released, and chunked downloads read back. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebdut/ebdut.h"
#include "minitest.h"
#include "mock_port.h"

#define NOISE_BYTES_PER_MODE (24u * 1024u * 1024u)
#define MAX_INFER_CALLS 10000000u

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static unsigned long g_percents;
static unsigned long g_bad_commands;
static unsigned long long g_bytes_fed;
static char g_chunk[70000];

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

static uint32_t rnd_below(uint32_t bound) { return bound == 0u ? 0u : rnd() % bound; }

static void feed(const char *bytes, size_t length)
{
    size_t i;
    for (i = 0; i < length; i++) {
        if (bytes[i] == '%') {
            g_percents++;
        }
        eb_rx_byte((uint8_t)bytes[i]);
        if (g_mock.infer_calls > MAX_INFER_CALLS) {
            fprintf(stderr, "test_fuzz: runaway inference loop\n");
            exit(1);
        }
    }
    g_bytes_fed += length;
}

static void check_invariants(const char *what)
{
    static int reported;
    int ok = g_mock.ready_lines == g_percents + 1u && g_mock.bad_lines == 0u &&
             g_mock.falls == g_mock.rises && g_mock.line_length == 0u;
    g_checks++;
    if (!ok && !reported) {
        reported = 1;
        g_failures++;
        fprintf(stderr, "invariant broken after %s: ready %lu, %% %lu, bad lines %lu, falls %lu,"
                        " rises %lu\n",
                what, g_mock.ready_lines, g_percents, g_mock.bad_lines,
                (unsigned long)g_mock.falls, (unsigned long)g_mock.rises);
    }
}

/* A command that must be answered with at least one e-[...] line and one m-ready. */
static void feed_bad(const char *bytes, size_t length)
{
    unsigned long errors = g_mock.error_lines;
    unsigned long ready = g_mock.ready_lines;
    feed(bytes, length);
    g_checks++;
    g_bad_commands++;
    if (g_mock.error_lines <= errors || g_mock.ready_lines != ready + 1u) {
        g_failures++;
        fprintf(stderr, "bad command not answered with e-[...] + m-ready: %.60s\n", bytes);
    }
    check_invariants("bad command");
}

static void feed_text(const char *text) { feed(text, strlen(text)); }

static size_t random_hex(char *out, size_t bytes)
{
    static const char digits[] = "0123456789abcdefABCDEF";
    size_t i;
    for (i = 0; i < 2u * bytes; i++) {
        out[i] = digits[rnd_below(22)];
    }
    return 2u * bytes;
}

static void adversarial_commands(size_t capacity)
{
    char text[256];
    size_t length;
    size_t i;
    static const char *const fixed[] = {
        "%", "db%", "db load%", "db load 0%", "db load -1%", "db load 99999999999999999999%",
        "db load abc%", "db 1%", "db xyz0%", "db 0\x01%", "infer 0%", "infer -5%", "infer 1 -1%",
        "infer 99999999999%", "infer a b%", "infer 1 2 3%", "name x%", "nam%", "\x7f\x80%",
        "results extra%", "db print -1%", "db print 1 2 3%", "db 00 11%",
    };
    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        feed_bad(fixed[i], strlen(fixed[i]));
    }
    /* oversize load, data without load, data past the end */
    length = (size_t)snprintf(text, sizeof text, "db load %lu%%", (unsigned long)capacity + 1u);
    feed_bad(text, length);
    feed_bad("db 0011%", 8);
    feed_text("db load 2%");
    feed_bad("db 001122%", 10);
    feed_text("db 0011%");
    feed_bad("db 00%", 6);
    /* overlong commands of many sizes, then resync */
    for (i = 81; i < 3000; i += 1 + rnd_below(400)) {
        size_t j;
        for (j = 0; j < i; j++) {
            g_chunk[j] = (char)(' ' + 1 + rnd_below(90));
            if (g_chunk[j] == '%') {
                g_chunk[j] = 'x';
            }
        }
        g_chunk[i] = '%';
        feed_bad(g_chunk, i + 1u);
    }
}

/* A full download in random chunks (<= 38 bytes) must end with one m-load-done and read back. */
static void roundtrip(size_t capacity, size_t input_size)
{
    static uint8_t data[EB_DB_BUFFER_BYTES];
    char command[96];
    size_t size = rnd_below(3) == 0u ? input_size : 1u + rnd_below((uint32_t)capacity);
    size_t sent = 0;
    size_t i;
    const char *out;
    char *expected;
    size_t at = 0;
    for (i = 0; i < size; i++) {
        data[i] = (uint8_t)rnd();
    }
    g_mock.capture = 1;
    g_mock.output_length = 0;
    snprintf(command, sizeof command, "db load %lu%%", (unsigned long)size);
    feed_text(command);
    while (sent < size) {
        size_t n = 1u + rnd_below(38);
        size_t j;
        if (n > size - sent) {
            n = size - sent;
        }
        memcpy(command, "db ", 3);
        for (j = 0; j < n; j++) {
            snprintf(command + 3 + 2 * j, 3, "%02x", (unsigned)data[sent + j]);
        }
        command[3 + 2 * n] = '%';
        feed(command, 4 + 2 * n);
        sent += n;
    }
    out = mock_take_output();
    CHECK(strstr(out, "m-load-done\r\nm-ready\r\n") != NULL);
    CHECK(strstr(strstr(out, "m-load-done") + 1, "m-load-done") == NULL);
    CHECK(strstr(out, "e-[") == NULL);
    feed_text("db print%");
    out = mock_take_output();
    expected = malloc(size * 3u + (size / 8u + 1u) * 12u + 16u);
    for (i = 0; i < size; i++) {
        at += (size_t)sprintf(expected + at, i % 8u == 0u ? "m-buffer-%02x" : "-%02x",
                              (unsigned)data[i]);
        if (i % 8u == 7u || i + 1u == size) {
            at += (size_t)sprintf(expected + at, "\r\n");
        }
    }
    sprintf(expected + at, "m-ready\r\n");
    CHECK_STR(out, expected);
    free(expected);
    if (size == input_size) {
        feed_text("infer 2 1%");
        out = mock_take_output();
        CHECK(strstr(out, "m-infer-start-2\r\n") != NULL);
        CHECK(strstr(out, "m-infer-done\r\nm-results-[") != NULL);
        CHECK(strstr(out, "e-[") == NULL);
    }
    g_mock.capture = 0;
    check_invariants("roundtrip");
}

static void random_command(size_t capacity)
{
    char text[128];
    size_t length = 0;
    switch (rnd_below(10)) {
    case 0:
        length = (size_t)snprintf(text, sizeof text, "db load %lu%%",
                                  (unsigned long)rnd_below((uint32_t)capacity * 2u));
        break;
    case 1:
    case 2:
        memcpy(text, "db ", 3);
        length = 3u + random_hex(text + 3, rnd_below(39));
        if (rnd_below(4) == 0u) {
            text[3u + rnd_below((uint32_t)length - 2u)] = (char)rnd();
        }
        text[length++] = '%';
        break;
    case 3:
        length = (size_t)snprintf(text, sizeof text, "infer %ld %ld%%", (long)rnd_below(4) - 1,
                                  (long)rnd_below(4) - 1);
        break;
    case 4:
        length = (size_t)snprintf(text, sizeof text, "db print %lu %lu%%",
                                  (unsigned long)rnd_below(40), (unsigned long)rnd_below(600));
        break;
    case 5:
        length = (size_t)snprintf(text, sizeof text, "%s%%",
                                  rnd_below(2) ? "timestamp" : "results");
        break;
    default:
        length = (size_t)snprintf(text, sizeof text, "%s%%",
                                  rnd_below(2) ? "name" : (rnd_below(2) ? "profile" : "help"));
        break;
    }
    feed(text, length);
}

static void noise(void)
{
    size_t length = 1u + rnd_below(sizeof g_chunk - 1u);
    size_t i;
    int percent_rate = (int)rnd_below(4); /* 0: no %, one overlong command; else 1 in 256 */
    for (i = 0; i < length; i++) {
        g_chunk[i] = (char)rnd();
        if (g_chunk[i] == '%' && percent_rate == 0) {
            g_chunk[i] = '#';
        }
    }
    feed(g_chunk, length);
}

static void run(eb_mode mode, size_t capacity, size_t input_size, uint64_t seed)
{
    eb_config config;
    unsigned round;
    unsigned long long start_bytes = g_bytes_fed;
    memset(&config, 0, sizeof config);
    config.mode = mode;
    config.dut_name = "fuzz";
    config.model_name = "fuzz01";
    config.db_capacity_bytes = capacity;
    config.input_size_bytes = input_size;
    config.ts_hold_us = 100;
    mock_reset();
    g_mock.capture = 0;
    g_rng = seed;
    g_percents = 0;
    eb_init(&config);
    adversarial_commands(capacity);
    for (round = 0; g_bytes_fed - start_bytes < NOISE_BYTES_PER_MODE; round++) {
        unsigned i;
        noise();
        feed("%", 1); /* resynchronise */
        check_invariants("noise");
        for (i = 0; i < 50u; i++) {
            random_command(capacity);
        }
        check_invariants("random commands");
        if (round % 8u == 0u) {
            roundtrip(capacity, input_size);
        }
    }
    g_checks++;
    if (g_mock.pin_level == 0) {
        g_failures++;
        fprintf(stderr, "timestamp pin left low\n");
    }
}

int main(void)
{
    alarm(120); /* bounded: a hang fails the test instead of blocking make */
    run(EB_MODE_PERFORMANCE, 490u, 490u, 0x1234567ull);
    run(EB_MODE_ENERGY, 5120u, 2560u, 0xfeedbeefull);
    fprintf(stderr, "test_fuzz: %llu bytes fed, %lu known-bad commands\n", g_bytes_fed,
            g_bad_commands);
    return TEST_SUMMARY("test_fuzz");
}
