//! A small program built with spanprof, for testing `spanprof run`: it allocates
//! under a site, then `ok` exits 0, `fail N` exits with status N, `no-profile` cancels
//! its exit profile (as a program without spanprof would write none), `wait` waits
//! for a signal to end it, as a server does (a minute at most, then exits 3).

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[spanprof::track_alloc]
#[inline(never)]
fn make_words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("word-{i}")).collect()
}

fn main() {
    // Arguments need not be UTF-8 (a test passes one that is not).
    let mut args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
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
        "wait" => {
            println!("sample program: waiting for a signal");
            std::thread::sleep(std::time::Duration::from_secs(60));
            std::process::exit(3);
        }
        other => {
            eprintln!("sample program: unknown mode '{other}'");
            std::process::exit(2);
        }
    }
}
