/* A long-running program for the signal tests of profiler-cli/tests/preload.rs:
 *   wait MARKER [handler]
 * allocates (hold_blocks, kept live), creates the file MARKER (ready), then sleeps
 * until a signal ends it (a minute at most, then exit 99). With `handler` it
 * catches SIGTERM and SIGINT itself and then exits 3 through exit(). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int sig) { got = sig; }

__attribute__((noinline)) static char **hold_blocks(int n) {
    char **blocks = malloc(sizeof(char *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        size_t len = 32 + (size_t)(i % 900);
        blocks[i] = malloc(len);
        memset(blocks[i], i, len);
    }
    return blocks;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char **blocks = hold_blocks(20000);
    if (argc > 2 && strcmp(argv[2], "handler") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || fclose(f) != 0 || rename(tmp, argv[1]) != 0) return 1;
    for (int i = 0; i < 600 && !got; i++) usleep(100000);
    if (got) {
        printf("caught %d, %d\n", got, blocks[5][0]);
        exit(3);
    }
    return 99;
}
