//! A small program built with spanprof, for testing `spanprof run`: it allocates
//! under a site, then `ok` exits 0, `fail N` exits with status N, `no-profile` cancels
//! its exit profile (as a program without spanprof would write none).

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[spanprof::track_alloc]
#[inline(never)]
fn make_words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("word-{i}")).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "ok".into());
    let words = make_words(10_000);
    println!("sample program: {} words", words.len());
    match mode.as_str() {
        "ok" => {}
        "fail" => {
            let code = args.next().and_then(|c| c.parse().ok()).unwrap_or(3);
            std::process::exit(code);
        }
        "no-profile" => spanprof::cancel_exit_profile(),
        other => {
            eprintln!("sample program: unknown mode '{other}'");
            std::process::exit(2);
        }
    }
}
