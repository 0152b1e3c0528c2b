/*
 * ebdut_db.c - the 'db' command family: download the model input as hex, bounds-checked.
 * A chunk is validated as a whole before any byte is written, so a rejected chunk can be
 * resent; nothing is ever written past the announced size or the buffer capacity.
 */
#include "ebdut_internal.h"

static uint8_t g_db_buffer[EB_DB_BUFFER_BYTES];
static size_t g_capacity = EB_DB_BUFFER_BYTES;
static size_t g_expected; /* size announced by the last accepted 'db load N' (0 = none) */
static size_t g_received; /* bytes written since that 'db load' */

void eb_db_configure(size_t capacity_bytes)
{
    g_capacity = (capacity_bytes == 0u || capacity_bytes > EB_DB_BUFFER_BYTES)
                     ? EB_DB_BUFFER_BYTES
                     : capacity_bytes;
    g_expected = 0;
    g_received = 0;
}

const uint8_t *eb_db_data(void) { return g_db_buffer; }
size_t eb_db_received(void) { return g_received; }
size_t eb_db_expected(void) { return g_expected; }

static void db_load(const eb_token *tokens, size_t count)
{
    uint32_t size = 0;
    eb_num_status status;
    if (count < 3u) {
        eb_print_error("Command 'db load' requires the # of bytes");
        return;
    }
    if (count > 3u) {
        eb_print_error("Command 'db load' takes one argument");
        return;
    }
    status = eb_parse_u32(&tokens[2], 0xFFFFFFFFu, &size);
    if (status == EB_NUM_INVALID) {
        eb_print_error_begin();
        eb_print("Invalid byte count '");
        eb_print_token(&tokens[2]);
        eb_print("' for 'db load'");
        eb_print_error_end();
        return;
    }
    if (status == EB_NUM_NEGATIVE || size == 0u) {
        eb_print_error("Command 'db load' must be >0 bytes");
        return;
    }
    if (status == EB_NUM_TOO_BIG || size > g_capacity) {
        /* Unlike the reference, the size is rejected and any pending load is cancelled. */
        g_expected = 0;
        g_received = 0;
        eb_print_error_begin();
        eb_print("Supplied buffer size ");
        if (status == EB_NUM_TOO_BIG) {
            eb_print_token(&tokens[2]);
        } else {
            eb_print_u64(size);
        }
        eb_print(" exceeds maximum of ");
        eb_print_u64(g_capacity);
        eb_print_error_end();
        return;
    }
    g_expected = size;
    g_received = 0;
    eb_print("m-[Expecting ");
    eb_print_u64(size);
    eb_print(" bytes]");
    eb_print_line_end();
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void db_data(const eb_token *tokens, size_t count)
{
    const eb_token *hex = &tokens[1];
    size_t i;
    size_t bytes = hex->length / 2u;
    if (count > 2u) {
        eb_print_error("Command 'db' takes one hex string without spaces");
        return;
    }
    if ((hex->length & 1u) != 0u) {
        eb_print_error("Insufficent number of hex digits"); /* [sic], the reference text */
        return;
    }
    for (i = 0; i < hex->length; i += 2u) {
        if (hex_value(hex->text[i]) < 0 || hex_value(hex->text[i + 1u]) < 0) {
            eb_token pair;
            pair.text = hex->text + i;
            pair.length = 2u;
            eb_print_error_begin();
            eb_print("Invalid hex digit '");
            eb_print_token(&pair);
            eb_print("'");
            eb_print_error_end();
            return;
        }
    }
    if (g_expected == 0u) {
        eb_print_error("Command 'db' data needs a prior 'db load N'");
        return;
    }
    if (g_received >= g_expected) {
        eb_print_error_begin();
        eb_print("All ");
        eb_print_u64(g_expected);
        eb_print(" bytes already loaded; send 'db load N' first");
        eb_print_error_end();
        return;
    }
    if (bytes > g_expected - g_received) {
        eb_print_error_begin();
        eb_print("db data exceeds the expected size: ");
        eb_print_u64(bytes);
        eb_print(" bytes sent, ");
        eb_print_u64(g_expected - g_received);
        eb_print(" remaining");
        eb_print_error_end();
        return;
    }
    for (i = 0; i < bytes; i++) {
        int high = hex_value(hex->text[2u * i]);
        int low = hex_value(hex->text[2u * i + 1u]);
        g_db_buffer[g_received++] = (uint8_t)((high << 4) | low);
    }
    if (g_received == g_expected) {
        eb_print("m-load-done");
        eb_print_line_end();
    }
}

static void print_hex_byte(uint8_t value)
{
    static const char digits[] = "0123456789abcdef";
    eb_port_uart_putc(digits[value >> 4]);
    eb_port_uart_putc(digits[value & 0x0Fu]);
}

/* 'db print [N [offset]]': N bytes (default: all received) as m-buffer lines of 8 bytes. */
static void db_print(const eb_token *tokens, size_t count)
{
    uint32_t length = (uint32_t)g_received;
    uint32_t offset = 0;
    uint32_t i;
    if (count > 4u) {
        eb_print_error("Command 'db print' takes at most N and offset");
        return;
    }
    if ((count >= 3u && eb_parse_u32(&tokens[2], 0xFFFFFFFFu, &length) != EB_NUM_OK) ||
        (count >= 4u && eb_parse_u32(&tokens[3], 0xFFFFFFFFu, &offset) != EB_NUM_OK)) {
        eb_print_error("Command 'db print' needs non-negative decimal N and offset");
        return;
    }
    if (offset > g_received || length > g_received - offset) {
        eb_print_error_begin();
        eb_print("db print range exceeds the ");
        eb_print_u64(g_received);
        eb_print(" bytes received");
        eb_print_error_end();
        return;
    }
    for (i = 0; i < length; i++) {
        if (i % 8u == 0u) {
            eb_print("m-buffer-");
        } else {
            eb_port_uart_putc('-');
        }
        print_hex_byte(g_db_buffer[offset + i]);
        if (i % 8u == 7u || i + 1u == length) {
            eb_print_line_end();
        }
    }
}

void eb_db_command(const eb_token *tokens, size_t count)
{
    if (count < 2u) {
        eb_print_error("Command 'db' requires a subcommand");
    } else if (eb_token_is(&tokens[1], "load")) {
        db_load(tokens, count);
    } else if (eb_token_is(&tokens[1], "print")) {
        db_print(tokens, count);
    } else {
        db_data(tokens, count);
    }
}
