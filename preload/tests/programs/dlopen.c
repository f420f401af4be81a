/* dlopen under libspanprof.so, run by profiler-cli/tests/preload.rs:
 *   dlopen LIBRARY [close]
 * loads plugin.c's library at run time and passes blocks across the boundary both
 * ways: the library allocates and the program frees, the program allocates and the
 * library frees or reallocates. With `close` the library is unloaded before exit.
 * Prints a checksum. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    char *(*make)(size_t, int) = (char *(*)(size_t, int))dlsym(lib, "plugin_make");
    char *(*grow)(char *, size_t, size_t, int) =
        (char *(*)(char *, size_t, size_t, int))dlsym(lib, "plugin_grow");
    unsigned long (*take)(char *, size_t) = (unsigned long (*)(char *, size_t))dlsym(lib, "plugin_take");
    if (!make || !grow || !take) return 1;
    unsigned long sum = 0;
    char *keep[1000];
    for (int i = 0; i < 40000; i++) {
        size_t n = 8 + (size_t)(i * 13 % 5000);
        char *a = make(n, i % 251);                 /* the library's block ... */
        sum += (unsigned char)a[n - 1];
        free(a);                                     /* ... freed by the program */
        char *b = malloc(n);                         /* the program's block ... */
        memset(b, i % 7, n);
        b = grow(b, n, 2 * n, 1);                    /* ... grown by the library */
        if (i % 40 == 0) keep[i / 40] = b;           /* some live at exit */
        else sum += take(b, 2 * n);                  /* ... or freed by it */
    }
    for (int i = 0; i < 1000; i += 2) sum += take(keep[i], 8);
    if (argc > 2 && strcmp(argv[2], "close") == 0 && dlclose(lib) != 0) return 1;
    printf("sum %lu\n", sum);
    return 0;
}
