//! The benchmark workloads under the system allocator (`std::alloc::System`: glibc malloc). Usage: `bench-system <workload> [ops]`.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    spanprof_bench::run_cli("system");
}
