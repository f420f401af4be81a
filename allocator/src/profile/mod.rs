//! The profiler: what spanprof records on top of the allocator's counters.
//!
//! Data flows one way: sites (`site.rs`, static data and the per-thread site stack,
//! interned by `context.rs`) and the sampler (`sample.rs`) feed counters
//! (`counters.rs`, per thread per context; `tags.rs` remembers which context and
//! sample each live object belongs to), which `writer.rs` turns into the profile of
//! `format.rs` (sampled stacks symbolized and interned by `symbolize.rs`), serialized
//! by `json.rs`. `hooks.rs` is where the allocator calls in, and only when a site is
//! current, sampling is on, or tagged objects exist. `measure.rs` reads the
//! allocator's per-thread counters directly. `capture.rs` writes profiles of a running
//! program (signals, interval) and before a termination signal ends it.

pub mod capture;
pub mod context;
pub mod counters;
pub mod format;
pub mod hooks;
pub mod json;
pub mod measure;
pub mod sample;
pub mod site;
pub mod symbolize;
pub mod tags;
pub mod writer;

/// Takes every profiler lock (before `fork`, around the allocator's own locks, in
/// the order they nest at run time).
pub(crate) fn lock_all(heap: &crate::Heap) {
    context::lock_forever();
    sample::lock_forever();
    heap.lock_all();
    counters::lock_forever();
    tags::lock_forever();
}

/// Releases what [`lock_all`] took (after `fork`, in parent and child).
///
/// # Safety
/// Must follow `lock_all` on the same thread.
pub(crate) unsafe fn unlock_all(heap: &crate::Heap) {
    // SAFETY: lock_all took each of these on this thread.
    unsafe {
        tags::force_unlock();
        counters::force_unlock();
        heap.unlock_all();
        sample::force_unlock();
        context::force_unlock();
    }
}
