//! The benchmark workloads under spanprof (`spanprof::SpanAlloc`). Usage: `bench-spanprof <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn main() {
    spanprof_bench::run_cli("spanprof");
}
