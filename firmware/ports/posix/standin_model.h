/*
 * standin_model.h - deterministic stand-in models with the MLPerf Tiny input sizes and result
 * formats (kws01, vww01, ic01, ad01). Not the real networks: a fixed pseudo-random integer
 * linear layer + softmax (classifiers) or a per-slice mean reconstruction error (ad01), so a
 * host can recompute the expected result from the bytes it sent (see firmware/README.md).
 */
#ifndef STANDIN_MODEL_H
#define STANDIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum { STANDIN_INT8, STANDIN_UINT8, STANDIN_FLOAT32 } standin_input_kind;
typedef enum { STANDIN_FMT_TRUNC3, STANDIN_FMT_FIXED3, STANDIN_FMT_TRAILING_COMMA } standin_format;

typedef struct {
    const char *name;           /* profile model string */
    size_t input_bytes;         /* exact input size th_load_tensor expects */
    size_t db_capacity_bytes;   /* reference MAX_DB_INPUT_SIZE */
    unsigned outputs;           /* classes, or 1 for ad01 */
    double logit_divisor;       /* softmax temperature of the integer logits */
    standin_input_kind kind;
    standin_format format;
} standin_model;

/* The model called name, or NULL. */
const standin_model *standin_find(const char *name);
/* Copy and convert the input; 0 on success, -1 on a size mismatch. */
int standin_load(const standin_model *model, const uint8_t *data, size_t length);
/* Run once on the loaded input; results kept for standin_print_results. */
void standin_infer(const standin_model *model);
/* The m-results-[...] line in the reference format of the model. */
void standin_print_results(const standin_model *model);

#endif /* STANDIN_MODEL_H */
