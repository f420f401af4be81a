//! The demo workload: order parsing with a type that wastes a third of its slot, points
//! that fit theirs exactly, scratch buffers that never escape and a large buffer. Its
//! own source is what `spanprof demo` runs the escape analysis on.

use spanprof::track_alloc;
use std::hint::black_box;

/// 33 bytes of fields, 40 with padding: lands in the 48 B class.
#[derive(Debug)]
#[allow(dead_code)] // the fields are there for their size
pub struct Order {
    pub id: u64,
    pub price: f64,
    pub qty: u64,
    pub ts: u64,
    pub side: u8,
}

/// 24 bytes: fits the 24 B class exactly.
#[derive(Debug)]
#[allow(dead_code)] // the fields are there for their size
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

#[track_alloc]
pub fn new_order(i: u64) -> Box<Order> {
    Box::new(Order {
        id: i,
        price: i as f64 * 0.5,
        qty: i % 7,
        ts: i * 3,
        side: (i % 2) as u8,
    })
}

#[track_alloc]
pub fn new_point(i: u64) -> Box<Point> {
    Box::new(Point {
        x: i as f64,
        y: 1.0,
        z: 2.0,
    })
}

#[track_alloc]
#[allow(clippy::vec_box)] // one boxed order per allocation, as a parser would keep them
pub fn parse_batch(n: u64) -> Vec<Box<Order>> {
    (0..n).map(new_order).collect()
}

#[track_alloc]
pub fn scratch(n: usize) -> usize {
    let v: Vec<u64> = Vec::with_capacity(n);
    black_box(&v);
    v.capacity()
}

#[track_alloc]
pub fn big_buffer(n: usize) -> Vec<u8> {
    vec![7u8; n]
}

/// Runs the workload; returns a checksum so nothing is optimised away.
pub fn run(rounds: u64) -> u64 {
    let mut sum = 0u64;
    let mut kept: Vec<Box<Order>> = Vec::new();
    for r in 0..rounds {
        let batch = parse_batch(500);
        sum += batch.iter().map(|o| o.qty).sum::<u64>();
        kept.extend(batch.into_iter().take(5));
        for i in 0..500 {
            sum += black_box(new_point(i)).x as u64;
        }
        sum += scratch(64 + (r as usize % 64)) as u64;
        if r % 20 == 0 {
            sum += big_buffer(100_000).len() as u64;
        }
    }
    sum + kept.len() as u64
}
