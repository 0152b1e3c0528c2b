/*
 * posix_port.c - the ebdut hooks on Linux/POSIX: byte I/O on file descriptors (a pty or
 * stdio), a CLOCK_MONOTONIC µs timer, the timestamp "pin" reported as lines on a side channel
 * ("ts_fall <us>", "ts_rise <us>", "infer_begin <us> <n>", "infer_end <us>"), and the
 * deterministic stand-in models.
 */
#define _POSIX_C_SOURCE 200809L

#include "posix_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ebdut/ebdut_port.h"

static posix_port_settings g_settings;
static struct timespec g_start;
static char g_out[4096];
static size_t g_out_length;
static unsigned char g_in[4096];
static size_t g_in_length;
static size_t g_in_position;
static int g_pin_level = 1;
static double g_rx_wire_us; /* emulated arrival time of the last received byte */

static void write_all(int fd, const char *data, size_t length);

void posix_port_setup(const posix_port_settings *settings)
{
    char line[96];
    int length;
    g_settings = *settings;
    clock_gettime(CLOCK_MONOTONIC, &g_start);
    if (g_settings.events_fd >= 0) {
        /* "at µs <offset> the host's CLOCK_MONOTONIC read <ns>": lets a host map event times
         * onto its own clock (the virtual lab's timeline) exactly. */
        length = snprintf(line, sizeof line, "clock_origin %llu %lld\n",
                          (unsigned long long)g_settings.timer_offset_us,
                          (long long)g_start.tv_sec * 1000000000LL + (long long)g_start.tv_nsec);
        write_all(g_settings.events_fd, line, (size_t)length);
    }
}

uint64_t posix_port_clock_us(void)
{
    struct timespec now;
    int64_t elapsed_ns;
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed_ns = (int64_t)(now.tv_sec - g_start.tv_sec) * 1000000000 + (now.tv_nsec - g_start.tv_nsec);
    return (uint64_t)(elapsed_ns / 1000) + g_settings.timer_offset_us;
}

static void sleep_us(uint64_t duration_us)
{
    struct timespec request;
    request.tv_sec = (time_t)(duration_us / 1000000u);
    request.tv_nsec = (long)(duration_us % 1000000u) * 1000L;
    while (nanosleep(&request, &request) != 0 && errno == EINTR) {
    }
}

/* Wire time of n transmitted bytes at 8N1 (10 bits each) when baud emulation is on. */
static void wire_delay(size_t bytes)
{
    if (g_settings.baud != 0u && bytes != 0u) {
        sleep_us((uint64_t)bytes * 10u * 1000000u / g_settings.baud);
    }
}

static void write_all(int fd, const char *data, size_t length)
{
    while (length > 0u) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "ebdut-posix: write failed: %s\n", strerror(errno));
            exit(1);
        }
        data += written;
        length -= (size_t)written;
    }
}

static void flush_output(void)
{
    wire_delay(g_out_length);
    write_all(g_settings.out_fd, g_out, g_out_length);
    g_out_length = 0;
}

static void write_event(const char *name, uint64_t time_us, int has_argument, uint32_t argument)
{
    char line[96];
    int length;
    if (g_settings.events_fd < 0) {
        return;
    }
    if (has_argument) {
        length = snprintf(line, sizeof line, "%s %llu %lu\n", name, (unsigned long long)time_us,
                          (unsigned long)argument);
    } else {
        length = snprintf(line, sizeof line, "%s %llu\n", name, (unsigned long long)time_us);
    }
    write_all(g_settings.events_fd, line, (size_t)length);
}

void eb_port_uart_init(eb_mode mode) { (void)mode; }

void eb_port_uart_putc(char c)
{
    g_out[g_out_length++] = c;
    if (c == '\n' || g_out_length == sizeof g_out) {
        flush_output();
    }
}

int eb_port_uart_getc(void)
{
    if (g_in_position == g_in_length) {
        ssize_t got;
        flush_output();
        do {
            got = read(g_settings.in_fd, g_in, sizeof g_in);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) {
            return -1;
        }
        g_in_length = (size_t)got;
        g_in_position = 0;
        if (g_rx_wire_us < (double)posix_port_clock_us()) {
            g_rx_wire_us = (double)posix_port_clock_us(); /* the line was idle */
        }
    }
    if (g_settings.baud != 0u) {
        /* Byte k of a burst is only "received" 10 bit times after byte k - 1. */
        uint64_t now_us;
        g_rx_wire_us += 10.0e6 / (double)g_settings.baud;
        now_us = posix_port_clock_us();
        if (g_rx_wire_us > (double)now_us + 500.0) {
            sleep_us((uint64_t)(g_rx_wire_us - (double)now_us));
        }
    }
    return g_in[g_in_position++];
}

void eb_port_timer_init(void) {}

uint32_t eb_port_timer_us(void) { return (uint32_t)posix_port_clock_us(); }

void eb_port_ts_pin_init(void) { g_pin_level = 1; }

void eb_port_ts_pin_write(int level)
{
    level = level ? 1 : 0;
    if (level != g_pin_level) {
        g_pin_level = level;
        write_event(level ? "ts_rise" : "ts_fall", posix_port_clock_us(), 0, 0);
    }
}

int eb_port_model_init(void) { return g_settings.model != NULL ? 0 : -1; }

int eb_port_load_tensor(const uint8_t *data, size_t length)
{
    return standin_load(g_settings.model, data, length);
}

void eb_port_pre(uint32_t iterations)
{
    flush_output();
    write_event("infer_begin", posix_port_clock_us(), 1, iterations);
}

void eb_port_infer(void)
{
    standin_infer(g_settings.model);
    if (g_settings.infer_us != 0u) {
        sleep_us(g_settings.infer_us);
    }
}

void eb_port_post(void) { write_event("infer_end", posix_port_clock_us(), 0, 0); }

void eb_port_results(void) { standin_print_results(g_settings.model); }
