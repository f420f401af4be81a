//! The benchmark workloads under mimalloc (crate `mimalloc`, default features). Usage: `bench-mimalloc <workload> [ops]`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    spanprof_bench::run_cli("mimalloc");
}
