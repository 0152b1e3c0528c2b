/*
 * posix_main.c - ebdut-posix: the energybench DUT harness as a Linux process. Serves the MLPerf
 * Tiny protocol on a new pseudo-terminal (path printed as "pty: /dev/pts/N") or on stdio, with a
 * stand-in model, and reports timestamp-pin edges on an optional side channel.
 */
#define _XOPEN_SOURCE 600

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ebdut/ebdut.h"
#include "posix_port.h"

static const char g_usage[] =
    "usage: ebdut-posix [options]\n"
    "  --mode energy|performance   timestamp mode (default performance)\n"
    "  --model kws01|vww01|ic01|ad01  stand-in model and input size (default kws01)\n"
    "  --stdio                     serve on stdin/stdout instead of a new pseudo-terminal\n"
    "  --events PATH|FD            write ts_fall/ts_rise/infer_begin/infer_end lines there\n"
    "  --baud N                    emulate 8N1 wire time at N baud (default 0 = off)\n"
    "  --hold-us N                 timestamp pulse low time in µs (default 100)\n"
    "  --infer-us N                extra time per inference in µs (default 0)\n"
    "  --name TEXT                 reply of 'name' (default energybench-posix)\n"
    "  --timer-offset-us N         start the µs counter at N (tests the 32-bit wrap)\n";

static char g_pty_path[256];

static void fail(const char *message, const char *detail)
{
    fprintf(stderr, "ebdut-posix: %s%s%s\n", message, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static unsigned long long parse_number(const char *option, const char *text)
{
    char *end = NULL;
    unsigned long long value;
    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        fprintf(stderr, "ebdut-posix: %s needs a non-negative integer, got '%s'\n", option, text);
        exit(2);
    }
    return value;
}

static int open_events(const char *target)
{
    int fd;
    if (target[0] != '\0' && strspn(target, "0123456789") == strlen(target)) {
        fd = (int)parse_number("--events", target);
        if (fcntl(fd, F_GETFD) < 0) {
            fail("--events file descriptor is not open", target);
        }
        return fd;
    }
    fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fail("cannot open --events file", target);
    }
    return fd;
}

/* New pseudo-terminal in raw mode; we keep the slave open so the master never reads EIO
 * when the host closes and reopens the port. */
static int open_pty(void)
{
    struct termios tio;
    const char *path;
    int slave;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
        (path = ptsname(master)) == NULL) {
        fail("cannot create a pseudo-terminal", strerror(errno));
    }
    slave = open(path, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &tio) != 0) {
        fail("cannot open the pseudo-terminal slave", path);
    }
    tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    tio.c_oflag &= ~(tcflag_t)OPOST;
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    if (tcsetattr(slave, TCSANOW, &tio) != 0) {
        fail("cannot set the pseudo-terminal to raw mode", path);
    }
    snprintf(g_pty_path, sizeof g_pty_path, "%s", path);
    return master;
}

int main(int argc, char **argv)
{
    posix_port_settings settings;
    eb_config config;
    const char *model_name = "kws01";
    const char *events = NULL;
    int use_stdio = 0;
    int i;
    memset(&settings, 0, sizeof settings);
    memset(&config, 0, sizeof config);
    config.mode = EB_MODE_PERFORMANCE;
    config.dut_name = "energybench-posix";
    settings.events_fd = -1;
    for (i = 1; i < argc; i++) {
        const char *option = argv[i];
        const char *value = NULL;
        char name[32];
        const char *equals = strchr(option, '=');
        size_t name_length = equals ? (size_t)(equals - option) : strlen(option);
        if (name_length >= sizeof name) {
            fail("unknown option", option);
        }
        memcpy(name, option, name_length);
        name[name_length] = '\0';
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            fputs(g_usage, stdout);
            return 0;
        }
        if (strcmp(name, "--stdio") == 0) {
            use_stdio = 1;
            continue;
        }
        if (equals) {
            value = equals + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fail("option needs a value", name);
        }
        if (strcmp(name, "--mode") == 0) {
            if (strcmp(value, "energy") == 0) {
                config.mode = EB_MODE_ENERGY;
            } else if (strcmp(value, "performance") == 0) {
                config.mode = EB_MODE_PERFORMANCE;
            } else {
                fail("--mode must be energy or performance, got", value);
            }
        } else if (strcmp(name, "--model") == 0) {
            model_name = value;
        } else if (strcmp(name, "--events") == 0) {
            events = value;
        } else if (strcmp(name, "--baud") == 0) {
            settings.baud = (uint32_t)parse_number(name, value);
        } else if (strcmp(name, "--hold-us") == 0) {
            config.ts_hold_us = (uint32_t)parse_number(name, value);
            if (config.ts_hold_us == 0u || config.ts_hold_us > 1000000u) {
                fail("--hold-us must be within 1..1000000", value);
            }
        } else if (strcmp(name, "--infer-us") == 0) {
            settings.infer_us = (uint32_t)parse_number(name, value);
        } else if (strcmp(name, "--name") == 0) {
            config.dut_name = value;
        } else if (strcmp(name, "--timer-offset-us") == 0) {
            settings.timer_offset_us = parse_number(name, value);
        } else {
            fprintf(stderr, "%s", g_usage);
            fail("unknown option", name);
        }
    }
    settings.model = standin_find(model_name);
    if (settings.model == NULL) {
        fail("--model must be kws01, vww01, ic01 or ad01, got", model_name);
    }
    config.model_name = settings.model->name;
    config.input_size_bytes = settings.model->input_bytes;
    config.db_capacity_bytes = settings.model->db_capacity_bytes;
    if (events != NULL) {
        settings.events_fd = open_events(events);
    }
    if (use_stdio) {
        settings.in_fd = STDIN_FILENO;
        settings.out_fd = STDOUT_FILENO;
    } else {
        settings.in_fd = settings.out_fd = open_pty();
    }
    posix_port_setup(&settings);
    eb_init(&config);
    if (!use_stdio) {
        /* Announced after boot: once the path is printed the DUT is ready for commands. */
        printf("pty: %s\n", g_pty_path);
        fflush(stdout);
    }
    eb_run();
    return 0;
}
