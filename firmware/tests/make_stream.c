/* make_stream.c - writes an adversarial command stream for ebdut-posix --stdio to stdout:
 * full downloads in random chunks with inferences, wrong-size inputs, bad hex, oversize
 * loads, overlong commands and binary noise. Prints "percents=N infers=M" on stderr so the
 * checking script knows how many m-ready and m-infer-done lines to expect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long g_rng = 88172645463325252ull;
static unsigned long g_percents;

static unsigned rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng >> 33);
}

static void emit(const char *text)
{
    for (; *text != '\0'; text++) {
        g_percents += *text == '%';
        putchar(*text);
    }
}

static void download(unsigned long size)
{
    char line[96];
    unsigned long sent = 0;
    sprintf(line, "db load %lu%%", size);
    emit(line);
    while (sent < size) {
        unsigned long n = 1u + rnd() % 38u;
        unsigned long j;
        if (n > size - sent) {
            n = size - sent;
        }
        strcpy(line, "db ");
        for (j = 0; j < n; j++) {
            sprintf(line + 3 + 2 * j, "%02x", rnd() & 0xFFu);
        }
        strcat(line, "%");
        emit(line);
        sent += n;
    }
}

int main(int argc, char **argv)
{
    unsigned long input_bytes;
    unsigned long capacity;
    unsigned long infers = 0;
    unsigned round;
    if (argc != 3) {
        fprintf(stderr, "usage: make_stream INPUT_BYTES CAPACITY_BYTES\n");
        return 2;
    }
    input_bytes = strtoul(argv[1], NULL, 10);
    capacity = strtoul(argv[2], NULL, 10);
    g_rng ^= input_bytes;
    for (round = 0; round < 3u; round++) {
        char line[128];
        unsigned long i;
        emit("name%profile%help%");
        download(input_bytes);
        emit("db print 16 0%infer 3 1%results%");
        infers++;
        download(input_bytes > 1u ? input_bytes - 1u : 2u); /* wrong size: error, no inference */
        emit("infer 1 0%");
        sprintf(line, "db load %lu%%", capacity + 1u);
        emit(line);
        emit("db 00%db 0%db zz%infer 0%infer 1 -1%bogus%%");
        for (i = 0; i < 200u + rnd() % 300u; i++) {
            putchar('A' + (int)(rnd() % 26u));
        }
        emit("%");
        for (i = 0; i < 100000u; i++) {
            int c = (int)(rnd() & 0xFFu);
            g_percents += c == '%';
            putchar(c);
        }
        emit("%");
    }
    fprintf(stderr, "percents=%lu infers=%lu\n", g_percents, infers);
    return 0;
}
