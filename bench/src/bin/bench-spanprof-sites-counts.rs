//! The benchmark workloads under spanprof with every workload thread inside a site,
//! sampling off, and exact per-site frees off (`spanprof::set_site_frees(false)`):
//! the cost of counting what each site allocates, without a slot tag per object.
//! Usage: `bench-spanprof-sites-counts <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const NAME: &str = "spanprof-sites-counts";

fn main() {
    spanprof::set_sample_rate(0);
    spanprof::set_site_frees(false);
    spanprof_bench::set_thread_hook(|| Box::new(spanprof::enter(spanprof::site!("bench"))));
    let run = spanprof_bench::run_cli(NAME);
    spanprof_bench::check::site_counted(NAME, &run, "bench");
}
