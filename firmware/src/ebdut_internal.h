/* ebdut_internal.h - shared between the core's translation units; not part of the port API. */
#ifndef EBDUT_INTERNAL_H
#define EBDUT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ebdut/ebdut.h"
#include "ebdut/ebdut_port.h"

/* A token of the received command: pointer into the command buffer and its length. */
typedef struct {
    const char *text;
    size_t length;
} eb_token;

#define EB_MAX_TOKENS 4u

typedef enum { EB_NUM_OK, EB_NUM_NEGATIVE, EB_NUM_INVALID, EB_NUM_TOO_BIG } eb_num_status;

/* Parse a decimal token into [0, limit]; "-digits" gives EB_NUM_NEGATIVE. */
eb_num_status eb_parse_u32(const eb_token *token, uint32_t limit, uint32_t *value);
int eb_token_is(const eb_token *token, const char *word);
/* Split on spaces/tabs into at most EB_MAX_TOKENS + 1 tokens (one more = "too many"). */
size_t eb_tokenize(char *text, size_t length, eb_token *tokens);

/* Output pieces used by every command. */
void eb_print_error_begin(void);                 /* "e-[" */
void eb_print_error_end(void);                   /* "]\r\n" */
void eb_print_error(const char *text);           /* "e-[text]\r\n" */
void eb_print_token(const eb_token *token);      /* printable ASCII only, others as '?' */

/* The 'db' command family (ebdut_db.c). */
void eb_db_configure(size_t capacity_bytes);
void eb_db_command(const eb_token *tokens, size_t count);
const uint8_t *eb_db_data(void);
size_t eb_db_received(void);
size_t eb_db_expected(void);

#endif /* EBDUT_INTERNAL_H */
