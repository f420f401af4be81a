//! The benchmark workloads under spanprof with full tracing: every allocation sampled
//! (`set_sample_rate(1)`), stacks taken by walking frame pointers; no sites.
//! Usage: `bench-spanprof-rate1 <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const NAME: &str = "spanprof-rate1";

fn main() {
    spanprof::set_sample_rate(1);
    spanprof::set_frame_pointer_unwinding(true);
    let run = spanprof_bench::run_cli(NAME);
    // Every allocation is sampled: at least one per op.
    let expect = if run.workload.allocates() { run.ops } else { 0 };
    spanprof_bench::check::sampled(NAME, &run, expect);
}
