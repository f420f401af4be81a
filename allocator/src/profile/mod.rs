//! The profiler: what spanprof records on top of the allocator's counters.
//!
//! A layer over the allocator core: files here may read core types (`Heap`,
//! `ThreadCache`, `Span`, the size-class table) and are handed the heap they
//! describe; no core file names this module (a test, `tests/layering.rs`, keeps it
//! so), and nothing here calls up into the entry points (`malloc.rs`) or the crate
//! root. The entry points alone call in, through `hooks.rs`, and only when a site is
//! current, sampling is on, or tagged objects exist, as only Go's `mallocgc` calls
//! `profilealloc`.
//!
//! Inside, data flows one way: sites (`site.rs`, static data) are interned as
//! contexts by `context.rs`; the hooks (`hooks.rs`, which also keep each thread's
//! site stack) and the sampler (`sample.rs`) feed counters (`counters.rs`, per thread
//! per context; `tags.rs` remembers which context and sample each live object belongs
//! to, as the spans' special records), which `writer.rs` turns into the profile of
//! `format.rs` (sampled stacks symbolized and interned by `symbolize.rs`), serialized
//! by `json.rs`. `measure.rs` reads the allocator's per-thread counters directly.
//! `capture.rs` writes profiles of a running program (signals, interval) and before a
//! termination signal ends it, through `writer.rs`.

pub mod capture;
pub mod context;
pub mod counters;
pub mod expmath;
pub mod format;
pub mod hooks;
pub mod json;
pub mod measure;
pub mod peak;
pub mod sample;
pub mod site;
pub mod symbolize;
pub mod tags;
pub mod timeline;
pub mod writer;

use crate::heap::Heap;

/// Starts the profiler for `heap`, once, from the entry points' first allocation on a
/// thread: reads the environment and, when `SPANPROF_OUT` asks for profiles, arms the
/// exit hook and capture. Allocates nothing.
pub(crate) fn init(heap: &'static Heap) {
    if writer::init_from_env(heap) {
        let (ms, warning) = timeline::parse_ms(writer::getenv(b"SPANPROF_TIMELINE_MS\0"));
        if let Some(w) = warning {
            crate::os::write_stderr(&[w]);
        }
        timeline::init(heap, ms);
        capture::arm(
            writer::getenv(b"SPANPROF_SIGNAL\0"),
            writer::getenv(b"SPANPROF_INTERVAL\0"),
        );
    }
}

/// Takes every profiler lock (before `fork`, around the allocator's own locks, in
/// the order they nest at run time).
pub(crate) fn lock_all(heap: &Heap) {
    // The peak snapshot's flag is taken before the locks a snapshot takes.
    timeline::lock_forever();
    peak::lock_forever();
    context::lock_forever();
    sample::lock_forever();
    heap.lock_all();
    hooks::lock_forever();
    counters::lock_forever();
    tags::lock_forever();
}

/// Releases what [`lock_all`] took (after `fork`, in parent and child).
///
/// # Safety
/// Must follow `lock_all` on the same thread.
pub(crate) unsafe fn unlock_all(heap: &Heap) {
    // SAFETY: lock_all took each of these on this thread.
    unsafe {
        tags::force_unlock();
        counters::force_unlock();
        hooks::force_unlock();
        heap.unlock_all();
        sample::force_unlock();
        context::force_unlock();
        peak::force_unlock();
        timeline::force_unlock();
    }
}
