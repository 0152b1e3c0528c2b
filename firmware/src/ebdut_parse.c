/*
 * ebdut_parse.c - tokens, decimal numbers and error-line helpers shared by the commands.
 * Tokens are (pointer, length) views: a command may contain NUL or any binary byte safely.
 */
#include "ebdut_internal.h"

/* ---------------------------------------------------------------- output helpers */

void eb_print_error_begin(void) { eb_print("e-["); }

void eb_print_error_end(void)
{
    eb_print("]");
    eb_print_line_end();
}

void eb_print_error(const char *text)
{
    eb_print_error_begin();
    eb_print(text);
    eb_print_error_end();
}

void eb_print_token(const eb_token *token)
{
    size_t i;
    for (i = 0; i < token->length; i++) {
        char c = token->text[i];
        eb_port_uart_putc((c > ' ' && c <= '~') ? c : '?');
    }
}

/* ---------------------------------------------------------------- parsing */

int eb_token_is(const eb_token *token, const char *word)
{
    size_t i;
    for (i = 0; i < token->length; i++) {
        if (word[i] == '\0' || word[i] != token->text[i]) {
            return 0;
        }
    }
    return word[i] == '\0';
}

eb_num_status eb_parse_u32(const eb_token *token, uint32_t limit, uint32_t *value)
{
    size_t i = 0;
    int negative = 0;
    uint32_t result = 0;
    int too_big = 0;
    if (token->length > 0u && token->text[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i >= token->length) {
        return EB_NUM_INVALID;
    }
    for (; i < token->length; i++) {
        char c = token->text[i];
        uint32_t digit;
        if (c < '0' || c > '9') {
            return EB_NUM_INVALID;
        }
        digit = (uint32_t)(c - '0');
        if (result > (limit - digit) / 10u) {
            too_big = 1;
        } else {
            result = result * 10u + digit;
        }
    }
    if (negative) {
        *value = 0;
        return result == 0u && !too_big ? EB_NUM_OK : EB_NUM_NEGATIVE;
    }
    *value = result;
    return too_big ? EB_NUM_TOO_BIG : EB_NUM_OK;
}

size_t eb_tokenize(char *text, size_t length, eb_token *tokens)
{
    size_t count = 0;
    size_t i = 0;
    while (i < length && count <= EB_MAX_TOKENS) {
        size_t start;
        while (i < length && (text[i] == ' ' || text[i] == '\t')) {
            i++;
        }
        if (i >= length) {
            break;
        }
        start = i;
        while (i < length && text[i] != ' ' && text[i] != '\t') {
            i++;
        }
        tokens[count].text = text + start;
        tokens[count].length = i - start;
        count++;
    }
    return count;
}

