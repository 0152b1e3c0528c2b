/*
 * ebdut_fmt.c - number formatting without printf (many MCU libcs lack float printf).
 * eb_format_fixed3 matches printf("%0.3f") exactly for every float (binary32) value below 1.8e19:
 * the fraction times 1000 is exact in double for them, and ties round half to even as glibc does.
 */
#include <float.h>
#include <math.h>

#include "ebdut/ebdut.h"
#include "ebdut/ebdut_port.h"

#define EB_FIXED_LIMIT 9.0e15 /* trunc3: above this (x * 1000), use d.dddddde+XX */
#define EB_WHOLE_LIMIT 1.8e19 /* fixed3: above this (< 2^64), use d.dddddde+XX */

static size_t copy_text(char *buffer, size_t at, const char *text)
{
    while (*text != '\0' && at + 1u < EB_FMT_MAX) {
        buffer[at++] = *text++;
    }
    buffer[at] = '\0';
    return at;
}

size_t eb_format_u64(char *buffer, uint64_t value)
{
    char digits[24];
    size_t count = 0;
    size_t at = 0;
    do {
        digits[count++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u && count < sizeof digits);
    while (count > 0u) {
        buffer[at++] = digits[--count];
    }
    buffer[at] = '\0';
    return at;
}

/* Non-finite values spelled as printf does; returns 0 when value is finite. */
static size_t format_special(char *buffer, double value)
{
    if (value != value) {
        return copy_text(buffer, 0, "nan");
    }
    if (value > DBL_MAX) {
        return copy_text(buffer, 0, "inf");
    }
    if (value < -DBL_MAX) {
        return copy_text(buffer, 0, "-inf");
    }
    return 0;
}

/* Writes [-]W.FFF: the whole part and the thousandths (0..999), already rounded or truncated. */
static size_t format_whole_milli(char *buffer, int negative, uint64_t whole, uint64_t milli)
{
    size_t at = 0;
    if (negative) {
        buffer[at++] = '-';
    }
    at += eb_format_u64(buffer + at, whole);
    buffer[at++] = '.';
    buffer[at++] = (char)('0' + (int)(milli / 100u));
    buffer[at++] = (char)('0' + (int)(milli / 10u % 10u));
    buffer[at++] = (char)('0' + (int)(milli % 10u));
    buffer[at] = '\0';
    return at;
}

/* Huge magnitudes: d.dddddde+XX (parsed by float() like any other number). */
static size_t format_exponent(char *buffer, int negative, double magnitude)
{
    unsigned exponent = 0;
    uint64_t micro;
    size_t at = 0;
    while (magnitude >= 10.0 && exponent < 400u) {
        magnitude /= 10.0;
        exponent++;
    }
    micro = (uint64_t)(magnitude * 1.0e6 + 0.5);
    if (micro >= 10000000u) {
        micro /= 10u;
        exponent++;
    }
    if (negative) {
        buffer[at++] = '-';
    }
    buffer[at++] = (char)('0' + (int)(micro / 1000000u));
    buffer[at++] = '.';
    micro %= 1000000u;
    {
        uint64_t scale = 100000u;
        while (scale > 0u) {
            buffer[at++] = (char)('0' + (int)(micro / scale % 10u));
            scale /= 10u;
        }
    }
    buffer[at++] = 'e';
    buffer[at++] = '+';
    if (exponent < 10u) {
        buffer[at++] = '0';
    }
    at += eb_format_u64(buffer + at, exponent);
    return at;
}

size_t eb_format_fixed3(char *buffer, double value)
{
    size_t special = format_special(buffer, value);
    int negative;
    double magnitude;
    uint64_t whole;
    double scaled;
    uint64_t milli;
    double remainder;
    if (special != 0u) {
        return special;
    }
    negative = signbit(value) ? 1 : 0;
    magnitude = negative ? -value : value;
    if (magnitude >= EB_WHOLE_LIMIT) {
        return format_exponent(buffer, negative, magnitude);
    }
    /* Split first: both parts are exact, and fraction * 1000 is exact for binary32 values. */
    whole = (uint64_t)magnitude;
    scaled = (magnitude - (double)whole) * 1000.0;
    milli = (uint64_t)scaled;
    remainder = scaled - (double)milli;
    if (remainder > 0.5 || (remainder == 0.5 && (milli & 1u) != 0u)) {
        milli++;
    }
    if (milli == 1000u) {
        whole++;
        milli = 0;
    }
    return format_whole_milli(buffer, negative, whole, milli);
}

size_t eb_format_trunc3(char *buffer, double value)
{
    size_t special = format_special(buffer, value);
    double magnitude;
    uint64_t milli;
    if (special != 0u) {
        return special;
    }
    magnitude = value < 0.0 ? -value : value;
    if (magnitude * 1000.0 >= EB_FIXED_LIMIT) {
        return format_exponent(buffer, value < 0.0, magnitude);
    }
    milli = (uint64_t)(magnitude * 1000.0);
    return format_whole_milli(buffer, value < 0.0 && milli != 0u, milli / 1000u, milli % 1000u);
}

void eb_print_n(const char *text, size_t length)
{
    size_t i;
    for (i = 0; i < length; i++) {
        eb_port_uart_putc(text[i]);
    }
}

void eb_print(const char *text)
{
    while (*text != '\0') {
        eb_port_uart_putc(*text++);
    }
}

void eb_print_line_end(void)
{
    eb_port_uart_putc('\r');
    eb_port_uart_putc('\n');
}

void eb_print_u64(uint64_t value)
{
    char buffer[EB_FMT_MAX];
    eb_print_n(buffer, eb_format_u64(buffer, value));
}

void eb_print_i64(int64_t value)
{
    if (value < 0) {
        eb_port_uart_putc('-');
        eb_print_u64((uint64_t)0 - (uint64_t)value);
    } else {
        eb_print_u64((uint64_t)value);
    }
}

void eb_print_fixed3(double value)
{
    char buffer[EB_FMT_MAX];
    eb_print_n(buffer, eb_format_fixed3(buffer, value));
}

void eb_print_trunc3(double value)
{
    char buffer[EB_FMT_MAX];
    eb_print_n(buffer, eb_format_trunc3(buffer, value));
}
