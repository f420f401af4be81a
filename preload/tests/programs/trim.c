/* mallopt and malloc_trim under libspanprof.so, run by profiler-cli/tests/preload.rs:
 * glibc's tunables are accepted (1, as glibc returns) and change nothing; after
 * 40 MB of small blocks are freed, malloc_trim hands the memory back to the OS
 * (resident set from /proc/self/statm). Prints the numbers and "ok" when every
 * check passes. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long resident_kb(void) {
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) return -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void) {
    int ok = 1;
    /* What programs set (Python's and sqlite's builds, servers tuning glibc). */
    int opts[][2] = {{M_MMAP_THRESHOLD, 1 << 20}, {M_TRIM_THRESHOLD, 1 << 22},
                     {M_ARENA_MAX, 1}, {M_TOP_PAD, 0}, {M_MMAP_MAX, 0}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        int r = mallopt(opts[i][0], opts[i][1]);
        if (r != 1) {
            printf("mallopt(%d, %d) = %d\n", opts[i][0], opts[i][1], r);
            ok = 0;
        }
    }
    enum { N = 160000, SIZE = 256 };
    static char *blocks[N];
    long before = resident_kb();
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        if (!blocks[i]) return 1;
        memset(blocks[i], i, SIZE);
    }
    long full = resident_kb();
    for (int i = 0; i < N; i++) free(blocks[i]);
    long freed = resident_kb();
    int released = malloc_trim(0);
    long trimmed = resident_kb();
    printf("resident KiB: before %ld, allocated %ld, freed %ld, trimmed %ld; malloc_trim %d\n",
           before, full, freed, trimmed, released);
    /* 40 MB were resident, and after the trim at most a quarter of it is. */
    if (full - before < 30000) ok = 0;
    if (trimmed - before > 10000) ok = 0;
    /* Still a working allocator. */
    char *p = malloc(1000);
    if (!p) return 1;
    memset(p, 1, 1000);
    free(p);
    if (ok) printf("ok\n");
    return ok ? 0 : 1;
}
