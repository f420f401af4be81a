//! A program for the tests of stripped binaries and `spanprof symbolize`: two
//! modules each have a function named `build` that allocates and keeps what it made,
//! so a profile of it has two distinct stacks whose innermost user functions share
//! a short name.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

mod parser {
    /// Parses `n` tokens: a boxed buffer per token (each its own allocation).
    #[inline(never)]
    #[allow(clippy::vec_box)]
    pub fn build(n: usize) -> Vec<Box<[u8; 100]>> {
        (0..n).map(|i| Box::new([i as u8; 100])).collect()
    }
}

mod renderer {
    /// Renders `n` lines: a string per line.
    #[inline(never)]
    pub fn build(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("line {i} of the rendered output"))
            .collect()
    }
}

fn main() {
    let tokens = parser::build(std::hint::black_box(500));
    let lines = renderer::build(std::hint::black_box(500));
    println!("strip_me: {} tokens, {} lines", tokens.len(), lines.len());
}
