/* A shared library that dlopen.c loads at run time (cc -shared -fPIC): it allocates
 * blocks the program frees, frees and reallocates blocks the program allocated. */
#include <stdlib.h>
#include <string.h>

/* A block of n bytes filled with c, for the caller to free. */
__attribute__((noinline)) char *plugin_make(size_t n, int c) {
    char *p = malloc(n);
    if (p) memset(p, c, n);
    return p;
}

/* Grows the caller's block to n bytes, filling what is new with c. */
__attribute__((noinline)) char *plugin_grow(char *p, size_t old, size_t n, int c) {
    char *q = realloc(p, n);
    if (q && n > old) memset(q + old, c, n - old);
    return q;
}

/* Frees a block the caller allocated; returns the sum of its first n bytes. */
__attribute__((noinline)) unsigned long plugin_take(char *p, size_t n) {
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++) sum += (unsigned char)p[i];
    free(p);
    return sum;
}
