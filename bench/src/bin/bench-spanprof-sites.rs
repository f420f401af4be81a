//! The benchmark workloads under spanprof with every workload thread inside a site
//! (`spanprof::enter(spanprof::site!("bench"))`) and sampling off: the cost of
//! per-site counting. Usage: `bench-spanprof-sites <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const NAME: &str = "spanprof-sites";

fn main() {
    spanprof::set_sample_rate(0);
    spanprof_bench::set_thread_hook(|| Box::new(spanprof::enter(spanprof::site!("bench"))));
    let run = spanprof_bench::run_cli(NAME);
    spanprof_bench::check::site_counted(NAME, &run, "bench");
}
