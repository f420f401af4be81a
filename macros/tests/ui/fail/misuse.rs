// Misuse: a const fn, unknown or malformed arguments, arguments on a type.
use spanprof::track_alloc;

#[track_alloc]
const fn answer() -> u32 {
    42
}

#[track_alloc(fast)]
fn unknown() {}

#[track_alloc(name = 3)]
fn not_a_string() {}

#[track_alloc(name)]
fn no_value() {}

#[track_alloc(warn = true)]
fn flag_with_value() {}

#[track_alloc(no_escape)]
struct Plain;

fn main() {}
