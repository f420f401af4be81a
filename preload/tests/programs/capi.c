/* C semantics of libspanprof.so's allocation API, run under LD_PRELOAD by
 * preload/tests/c_api.rs (and by hand: cc capi.c -o capi && LD_PRELOAD=... ./capi).
 * Prints "ok" and exits 0 when every check passes; names the first failure otherwise. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C23's, which glibc 2.36 does not declare: looked up in the process. */
static void (*free_sized)(void *, size_t);
static void (*free_aligned_sized)(void *, size_t, size_t);
/* Sizes the compiler cannot see through (no -Walloc-size-larger-than noise). */
static volatile size_t huge = SIZE_MAX - 100, half = SIZE_MAX / 2;

static int failed;
#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            printf("FAILED line %d: %s\n", __LINE__, #c);                      \
            failed = 1;                                                        \
        }                                                                      \
    } while (0)
#define ALIGNED(p, a) (((uintptr_t)(p) & ((a) - 1)) == 0)

int main(void) {
    free_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    free_aligned_sized = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (!free_sized || !free_aligned_sized) {
        printf("FAILED: free_sized or free_aligned_sized not found (not preloaded?)\n");
        return 1;
    }
    /* spanprof serves these: usable sizes are its size classes. */
    void *p = malloc(100);
    CHECK(p && malloc_usable_size(p) == 112);
    CHECK(ALIGNED(p, 16));
    free(p);
    for (size_t n = 1; n < 70000; n = n * 3 / 2 + 1) {
        char *q = malloc(n);
        CHECK(q && ALIGNED(q, n <= 8 ? 8 : 16));
        size_t u = malloc_usable_size(q);
        CHECK(u >= n);
        memset(q, 0xab, u); /* every usable byte is the program's */
        free(q);
    }
    /* malloc(0): a unique pointer that can be freed. */
    void *z0 = malloc(0), *z1 = malloc(0);
    CHECK(z0 && z1 && z0 != z1);
    free(z0);
    free(z1);
    free(NULL);
    /* calloc: zeroed; overflow is ENOMEM. */
    unsigned char *c = calloc(1000, 3);
    CHECK(c);
    for (int i = 0; i < 3000; i++) CHECK(c[i] == 0);
    free(c);
    char *big = calloc(1, 1 << 20);
    CHECK(big && big[12345] == 0);
    free(big);
    errno = 0;
    CHECK(calloc(half, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    /* realloc: contents kept, growing and shrinking, small and large. */
    char *r = realloc(NULL, 10);
    CHECK(r);
    strcpy(r, "spanprof!");
    r = realloc(r, 5000);
    CHECK(r && strcmp(r, "spanprof!") == 0);
    r = realloc(r, 200000);
    CHECK(r && strcmp(r, "spanprof!") == 0 && malloc_usable_size(r) >= 200000);
    r = realloc(r, 12);
    CHECK(r && strcmp(r, "spanprof!") == 0 && ALIGNED(r, 16));
    char *same = realloc(r, 16); /* the same class: in place */
    CHECK(same == r);
    errno = 0;
    CHECK(realloc(same, huge) == NULL && errno == ENOMEM);
    CHECK(strcmp(same, "spanprof!") == 0); /* untouched by the failure */
    CHECK(realloc(same, 0) == NULL);        /* glibc: frees, returns NULL */
    /* reallocarray */
    int *a = reallocarray(NULL, 100, sizeof(int));
    CHECK(a);
    errno = 0;
    CHECK(reallocarray(a, half, 4) == NULL && errno == ENOMEM);
    free(a);
    /* alignment of every aligned API */
    for (size_t al = 8; al <= (1 << 20); al *= 2) {
        void *m;
        CHECK(posix_memalign(&m, al, 100) == 0 && ALIGNED(m, al));
        free(m);
        m = aligned_alloc(al, al * 2);
        CHECK(m && ALIGNED(m, al));
        free_aligned_sized(m, al, al * 2);
        m = memalign(al, 3);
        CHECK(m && ALIGNED(m, al) && malloc_usable_size(m) >= 3);
        m = realloc(m, 70000); /* a moved block is malloc-aligned */
        CHECK(m && ALIGNED(m, 16));
        free(m);
    }
    void *m = (void *)1;
    CHECK(posix_memalign(&m, 24, 10) == EINVAL && m == (void *)1);
    CHECK(posix_memalign(&m, 4, 10) == EINVAL);
    void *v = valloc(10);
    CHECK(v && ALIGNED(v, 4096));
    free(v);
    v = pvalloc(5000);
    CHECK(v && ALIGNED(v, 4096) && malloc_usable_size(v) >= 8192);
    free(v);
    v = malloc(50);
    free_sized(v, 50);
    CHECK(malloc_usable_size(NULL) == 0);
    /* free keeps errno */
    v = malloc(40000);
    errno = 1234;
    free(v);
    CHECK(errno == 1234);
    /* accepted and documented */
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    malloc_trim(0);
    if (failed) return 1;
    printf("ok\n");
    return 0;
}
