/* exec under libspanprof.so, run by profiler-cli/tests/preload.rs:
 *   exec fork-exec  allocates (parent_work), forks; the child execs this program
 *                   again as `exec child`, which allocates (child_work)
 *   exec exec       allocates (before_exec), then execs `exec child` in place
 *   exec child      allocates (child_work)
 * The exec'd program inherits LD_PRELOAD and SPANPROF_OUT, so it runs on spanprof
 * and writes its own profile (exec keeps the pid: with `%p`, the name the process
 * had before the exec). Prints a checksum of what each part built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Builds n strings, keeps every 4th, frees the rest; returns a checksum. */
static unsigned long churn(int n, int seed, char ***kept_out) {
    char **kept = malloc(sizeof(char *) * (size_t)(n / 4 + 1));
    unsigned long sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = 16 + (size_t)((i * 7 + seed) % 300);
        char *s = malloc(len);
        memset(s, 'a' + i % 26, len - 1);
        s[len - 1] = 0;
        sum += strlen(s);
        if (i % 4 == 0) kept[k++] = s;
        else free(s);
    }
    kept[k] = NULL;
    *kept_out = kept;
    return sum;
}

static void release(char **kept) {
    for (char **p = kept; *p; p++) free(*p);
    free(kept);
}

__attribute__((noinline)) static unsigned long parent_work(char ***kept) { return churn(20000, 1, kept); }
__attribute__((noinline)) static unsigned long before_exec(char ***kept) { return churn(20000, 2, kept); }
__attribute__((noinline)) static unsigned long child_work(char ***kept) { return churn(30000, 3, kept); }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char **kept;
    if (strcmp(argv[1], "child") == 0) {
        printf("child %lu\n", child_work(&kept));
        release(kept);
        return 0;
    }
    if (strcmp(argv[1], "exec") == 0) {
        printf("before exec %lu\n", before_exec(&kept));
        fflush(stdout);
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        perror("execl");
        return 127;
    }
    if (strcmp(argv[1], "fork-exec") == 0) {
        printf("parent %lu\n", parent_work(&kept));
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "child", (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid) return 3;
        printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        release(kept);
        return 0;
    }
    return 2;
}
