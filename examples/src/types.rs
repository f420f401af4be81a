//! Structs around size-class boundaries, each allocated by a `#[track_alloc]`
//! constructor returning `Box<T>`, so the escape findings name the type and
//! `spanprof audit` can say which class it lands in and what the rounding wastes.
//!
//! | type | size | class (slot) | waste per object |
//! |---|---:|---:|---:|
//! | `Token` | 33 B | 48 B | 15 B |
//! | `Order` | 40 B | 48 B | 8 B |
//! | `Interval` | 24 B | 24 B | 0 |
//! | `Sample` | 72 B | 80 B | 8 B |

/// A lexer token: a kind byte and up to 32 bytes of text (33 B, alignment 1).
#[spanprof::track_alloc]
#[derive(Clone, Debug)]
pub struct Token {
    pub kind: u8,
    pub text: [u8; 32],
}

/// An order line (40 B).
#[spanprof::track_alloc]
#[derive(Clone, Debug)]
pub struct Order {
    pub id: u64,
    pub customer: u64,
    pub price: f64,
    pub quantity: u32,
    pub flags: u32,
    pub time: u64,
}

/// A half-open interval with its parent (24 B: exactly a size class).
#[spanprof::track_alloc]
#[derive(Clone, Debug)]
pub struct Interval {
    pub start: u64,
    pub end: u64,
    pub parent: u64,
}

/// Eight measurements and a count (72 B).
#[spanprof::track_alloc]
#[derive(Clone, Debug)]
pub struct Sample {
    pub values: [f64; 8],
    pub count: u64,
}

#[spanprof::track_alloc]
#[inline(never)]
pub fn new_token(i: u64) -> Box<Token> {
    let mut text = [0u8; 32];
    text[..8].copy_from_slice(&i.to_le_bytes());
    Box::new(Token {
        kind: (i % 7) as u8,
        text,
    })
}

#[spanprof::track_alloc]
#[inline(never)]
pub fn new_order(i: u64) -> Box<Order> {
    Box::new(Order {
        id: i,
        customer: i % 97,
        price: i as f64 * 0.25,
        quantity: (i % 10) as u32 + 1,
        flags: 0,
        time: 1_764_000_000 + i,
    })
}

#[spanprof::track_alloc]
#[inline(never)]
pub fn new_interval(i: u64) -> Box<Interval> {
    Box::new(Interval {
        start: i,
        end: i + 10,
        parent: i / 2,
    })
}

#[spanprof::track_alloc]
#[inline(never)]
pub fn new_sample(i: u64) -> Box<Sample> {
    Box::new(Sample {
        values: [i as f64; 8],
        count: i,
    })
}

/// Allocates `n` objects of each type, keeping a window of `live` of each; returns a
/// checksum so nothing is optimised away.
pub fn run(n: u64, live: usize) -> u64 {
    let live = live.max(1);
    let mut tokens: Vec<Box<Token>> = Vec::with_capacity(live);
    let mut orders: Vec<Box<Order>> = Vec::with_capacity(live);
    let mut intervals: Vec<Box<Interval>> = Vec::with_capacity(live);
    let mut samples: Vec<Box<Sample>> = Vec::with_capacity(live);
    let mut sum = 0u64;
    for i in 0..n {
        let slot = (i as usize) % live;
        if tokens.len() == live {
            sum = sum
                .wrapping_add(u64::from(tokens[slot].kind))
                .wrapping_add(orders[slot].id)
                .wrapping_add(intervals[slot].end)
                .wrapping_add(samples[slot].count);
            tokens[slot] = new_token(i);
            orders[slot] = new_order(i);
            intervals[slot] = new_interval(i);
            samples[slot] = new_sample(i);
        } else {
            tokens.push(new_token(i));
            orders.push(new_order(i));
            intervals.push(new_interval(i));
            samples.push(new_sample(i));
        }
    }
    sum
}
