/* The C API's fast path in isolation: N malloc(64)/free pairs (default 1000000).
 * Instructions per pair are the difference of two callgrind runs, as in README:
 *   cc -O2 -o pairs bench/preload/pairs.c
 *   LD_PRELOAD=$PWD/target/release/libspanprof.so valgrind --tool=callgrind ./pairs 1000000
 *   LD_PRELOAD=$PWD/target/release/libspanprof.so valgrind --tool=callgrind ./pairs 2000000
 * ("Collected" of the second minus the first, divided by 1000000). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    void *volatile sink;
    for (long i = 0; i < n; i++) {
        void *p = malloc(64);
        sink = p;
        free(p);
    }
    (void)sink;
    printf("%ld\n", n);
    return 0;
}
