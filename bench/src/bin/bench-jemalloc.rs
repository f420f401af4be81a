//! The benchmark workloads under jemalloc (crate `tikv-jemallocator`). Usage: `bench-jemalloc <workload> [ops]`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    spanprof_bench::run_cli("jemalloc");
}
