/* minitest.h - the smallest test harness: CHECK records a failure and continues. */
#ifndef MINITEST_H
#define MINITEST_H

#include <stdio.h>
#include <string.h>

static int g_failures;
static int g_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        g_checks++;                                                                  \
        if (!(cond)) {                                                               \
            g_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STR(got, want)                                                           \
    do {                                                                               \
        const char *got_ = (got);                                                      \
        const char *want_ = (want);                                                    \
        g_checks++;                                                                    \
        if (strcmp(got_, want_) != 0) {                                                \
            g_failures++;                                                              \
            fprintf(stderr, "%s:%d: got:\n%s\nwant:\n%s\n", __FILE__, __LINE__, got_, \
                    want_);                                                            \
        }                                                                              \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                    \
    do {                                                                                    \
        const char *h_ = (haystack);                                                        \
        g_checks++;                                                                         \
        if (strstr(h_, (needle)) == NULL) {                                                 \
            g_failures++;                                                                   \
            fprintf(stderr, "%s:%d: missing '%s' in:\n%s\n", __FILE__, __LINE__, (needle), \
                    h_);                                                                    \
        }                                                                                   \
    } while (0)

#define TEST_SUMMARY(name)                                                                   \
    (fprintf(stderr, "%s: %d checks, %d failures\n", (name), g_checks, g_failures), \
     g_failures == 0 ? 0 : 1)

#endif /* MINITEST_H */
