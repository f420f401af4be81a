// A C++ program for the preload tests: std::map, std::string, std::vector, threads,
// fork, and allocations before main and in static destructors. Its output does not
// depend on the allocator; the tests compare it with a run under glibc.
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>

struct Early {
    std::vector<std::string> v;
    Early() { for (int i = 0; i < 1000; i++) v.push_back("before main " + std::to_string(i)); }
    ~Early() {
        std::map<int, std::string> late;
        for (int i = 0; i < 1000; i++) late[i] = std::string(100, 'x');
        std::printf("destructor %zu\n", late.size());
    }
};
static Early early;

__attribute__((noinline)) std::map<std::string, std::string> build_word_index(int n, int salt) {
    std::map<std::string, std::string> index;
    for (int i = 0; i < n; i++) {
        std::string key = "key-" + std::to_string(i * 7919 % n) + "-" + std::to_string(salt);
        index[key] = std::string(16 + i % 200, 'a' + i % 26);
    }
    return index;
}

int main() {
    unsigned long total = 0;
    for (int round = 0; round < 20; round++) {
        auto index = build_word_index(20000, round);
        for (auto &kv : index) total += kv.second.size();
    }
    std::vector<std::thread> threads;
    std::vector<unsigned long> sums(4);
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &sums] {
            for (int r = 0; r < 5; r++)
                for (auto &kv : build_word_index(10000, t * 100 + r)) sums[t] += kv.first.size();
        });
    for (auto &t : threads) t.join();
    for (auto s : sums) total += s;
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        auto index = build_word_index(5000, 999);
        std::printf("child %zu\n", index.size());
        std::exit(0); // exit, not _exit: the child writes its own profile
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::printf("total %lu early %zu child-status %d\n", total, early.v.size(), status);
    return 0;
}
