//! The benchmark workloads under spanprof with full tracing through the default DWARF
//! unwinder: every allocation sampled (`set_sample_rate(1)`), no frame-pointer walk,
//! no sites. Shows what the slow unwinder costs next to `bench-spanprof-rate1`.
//! Usage: `bench-spanprof-rate1-dwarf <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const NAME: &str = "spanprof-rate1-dwarf";

fn main() {
    spanprof::set_sample_rate(1);
    spanprof::set_frame_pointer_unwinding(false);
    let run = spanprof_bench::run_cli(NAME);
    // Every allocation is sampled: at least one per op.
    let expect = if run.workload.allocates() { run.ops } else { 0 };
    spanprof_bench::check::sampled(NAME, &run, expect);
}
