//! The profiler: what spanprof records on top of the allocator's counters.
//!
//! Data flows one way: sites (`site.rs`, static data and the per-thread site stack,
//! interned by `context.rs`) and the sampler (`sample.rs`) feed counters
//! (`counters.rs`, per thread per context; `tags.rs` remembers which context and
//! sample each live object belongs to), which `writer.rs` turns into the profile of
//! `format.rs`. `hooks.rs` is where the allocator calls in, and only when a site is
//! current, sampling is on, or tagged objects exist. `measure.rs` reads the
//! allocator's per-thread counters directly.

pub mod context;
pub mod counters;
pub mod format;
pub mod hooks;
pub mod measure;
pub mod sample;
pub mod site;
pub mod tags;
pub mod writer;
