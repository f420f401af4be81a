//! The benchmark workloads under spanprof with every workload thread inside a site,
//! Go's default sampling (one stack per 512 KiB, DWARF unwinder) and exact per-site
//! frees off (`spanprof::set_site_frees(false)`): sites count what they allocate, the
//! sampled stacks tell what is in use. Usage: `bench-spanprof-sampled-counts <workload> [ops]`.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const NAME: &str = "spanprof-sampled-counts";
const RATE: u64 = 512 * 1024;

fn main() {
    spanprof::set_sample_rate(RATE);
    spanprof::set_frame_pointer_unwinding(false);
    spanprof::set_site_frees(false);
    spanprof_bench::set_thread_hook(|| Box::new(spanprof::enter(spanprof::site!("bench"))));
    let run = spanprof_bench::run_cli(NAME);
    let site = spanprof_bench::check::site_counted(NAME, &run, "bench");
    // With 16 sampling intervals allocated, no sample at all has odds of e^-16.
    let expect = u64::from(site.slot_bytes >= 16 * RATE);
    spanprof_bench::check::sampled(NAME, &run, expect);
}
