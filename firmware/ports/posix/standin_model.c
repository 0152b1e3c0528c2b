/*
 * standin_model.c - deterministic stand-in models (see standin_model.h).
 * Classifier: logit_k = sum_i v_i * w(i, k), w(i, k) = mix32(i * classes + k) % 7 - 3,
 * v_i = int8 input (kws01) or uint8 - 128 (vww01, ic01); p = softmax(logit / divisor).
 * ad01: 640 float32 LE = 5 slices x 128 bins; result = mean over all of (x - slice mean)^2.
 */
#include "standin_model.h"

#include <math.h>
#include <string.h>

#include "ebdut/ebdut.h"
#include "ebdut/ebdut_port.h"

#define STANDIN_MAX_INPUT (96u * 96u * 3u)
#define STANDIN_MAX_OUTPUTS 12u
#define AD_VALUES 640u
#define AD_SLICE 128u

static const standin_model g_models[] = {
    {"kws01", 490u, 490u, 12u, 1200.0, STANDIN_INT8, STANDIN_FMT_TRUNC3},
    {"vww01", 27648u, 27648u, 2u, 9000.0, STANDIN_UINT8, STANDIN_FMT_TRAILING_COMMA},
    {"ic01", 3072u, 3072u, 10u, 3000.0, STANDIN_UINT8, STANDIN_FMT_FIXED3},
    {"ad01", 2560u, 5120u, 1u, 1.0, STANDIN_FLOAT32, STANDIN_FMT_FIXED3},
};

static int32_t g_values[STANDIN_MAX_INPUT];
static float g_floats[AD_VALUES];
static double g_outputs[STANDIN_MAX_OUTPUTS];

const standin_model *standin_find(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof g_models / sizeof g_models[0]; i++) {
        if (strcmp(g_models[i].name, name) == 0) {
            return &g_models[i];
        }
    }
    return NULL;
}

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

int standin_load(const standin_model *model, const uint8_t *data, size_t length)
{
    size_t i;
    if (length != model->input_bytes) {
        return -1;
    }
    if (model->kind == STANDIN_FLOAT32) {
        for (i = 0; i < AD_VALUES; i++) {
            uint32_t bits = (uint32_t)data[4u * i] | ((uint32_t)data[4u * i + 1u] << 8) |
                            ((uint32_t)data[4u * i + 2u] << 16) | ((uint32_t)data[4u * i + 3u] << 24);
            memcpy(&g_floats[i], &bits, sizeof bits);
        }
        return 0;
    }
    for (i = 0; i < length; i++) {
        g_values[i] = model->kind == STANDIN_INT8 ? (int32_t)(int8_t)data[i]
                                                  : (int32_t)data[i] - 128;
    }
    return 0;
}

static void infer_classifier(const standin_model *model)
{
    int64_t logits[STANDIN_MAX_OUTPUTS] = {0};
    double largest;
    double total = 0.0;
    size_t i;
    unsigned k;
    for (i = 0; i < model->input_bytes; i++) {
        for (k = 0; k < model->outputs; k++) {
            int32_t weight = (int32_t)(mix32((uint32_t)(i * model->outputs + k)) % 7u) - 3;
            logits[k] += (int64_t)g_values[i] * weight;
        }
    }
    largest = (double)logits[0];
    for (k = 1; k < model->outputs; k++) {
        if ((double)logits[k] > largest) {
            largest = (double)logits[k];
        }
    }
    for (k = 0; k < model->outputs; k++) {
        g_outputs[k] = exp(((double)logits[k] - largest) / model->logit_divisor);
        total += g_outputs[k];
    }
    for (k = 0; k < model->outputs; k++) {
        g_outputs[k] /= total;
    }
}

static void infer_anomaly(void)
{
    double error = 0.0;
    unsigned slice;
    unsigned i;
    for (slice = 0; slice < AD_VALUES / AD_SLICE; slice++) {
        const float *x = &g_floats[slice * AD_SLICE];
        double mean = 0.0;
        for (i = 0; i < AD_SLICE; i++) {
            mean += (double)x[i];
        }
        mean /= (double)AD_SLICE;
        for (i = 0; i < AD_SLICE; i++) {
            double d = (double)x[i] - mean;
            error += d * d;
        }
    }
    g_outputs[0] = error / (double)AD_VALUES;
}

void standin_infer(const standin_model *model)
{
    if (model->kind == STANDIN_FLOAT32) {
        infer_anomaly();
    } else {
        infer_classifier(model);
    }
}

void standin_print_results(const standin_model *model)
{
    unsigned k;
    eb_print("m-results-[");
    for (k = 0; k < model->outputs; k++) {
        if (model->format == STANDIN_FMT_TRUNC3) {
            eb_print_trunc3(g_outputs[k]);
        } else {
            eb_print_fixed3(g_outputs[k]);
        }
        if (k + 1u < model->outputs || model->format == STANDIN_FMT_TRAILING_COMMA) {
            eb_print(",");
        }
    }
    eb_print("]");
    eb_print_line_end();
}
