//! `measure`: what a closure allocated on the calling thread.
//!
//! It reads the thread cache's own counters before and after the closure (the cache
//! beside the thread's profiler state, see `hooks::attach`), so it
//! needs no global profiler and works in parallel tests (each test thread measures
//! only itself). Objects the closure hands to other threads are counted here when
//! allocated and there when freed.
//!
//! Those counters are the program's books: what spanprof allocates for itself inside
//! the closure (a profile written, a snapshot taken) is counted in the thread's
//! profiler cache and never shows here. `measure` allocates nothing itself, so a
//! measurement is not part of any figure either (not even of an enclosing `measure`).

use core::sync::atomic::Ordering;

use crate::profile::hooks;
use crate::size_class::{NUM_CLASSES, class_size};

/// What a closure allocated and freed on the calling thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Objects allocated (small and large).
    pub allocs: u64,
    /// Objects freed.
    pub frees: u64,
    /// Slot (or page-rounded) bytes allocated.
    pub bytes_allocated: u64,
    /// Slot (or page-rounded) bytes freed.
    pub bytes_freed: u64,
    /// Refills from the central lists the closure caused.
    pub refills: u64,
    /// `allocs − frees` (objects allocated inside and still alive, if the closure
    /// freed nothing it did not allocate).
    pub live_objects: i64,
    /// `bytes_allocated − bytes_freed`.
    pub live_bytes: i64,
    /// The high-water mark of the thread's live bytes during the closure, relative to
    /// its start (slot or page-rounded bytes; dhat's `max_bytes`): exact. While
    /// `measure` runs, the thread's allocations take the hooked paths to keep it.
    pub peak_bytes: u64,
    /// Per size class that saw any traffic (class 0 = large objects), by class.
    pub classes: ClassMeasurements,
}

/// The classes of a [`Measurement`] that saw any traffic, in class order: a slice
/// (`iter`, `len`, indexing) held inline, so measuring allocates nothing.
#[derive(Clone, Copy)]
pub struct ClassMeasurements {
    len: usize,
    items: [ClassMeasurement; NUM_CLASSES],
}

impl ClassMeasurements {
    fn push(&mut self, c: ClassMeasurement) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = c;
            self.len += 1;
        }
    }
}

impl Default for ClassMeasurements {
    fn default() -> Self {
        ClassMeasurements {
            len: 0,
            items: [ClassMeasurement::default(); NUM_CLASSES],
        }
    }
}

impl core::ops::Deref for ClassMeasurements {
    type Target = [ClassMeasurement];
    fn deref(&self) -> &[ClassMeasurement] {
        &self.items[..self.len]
    }
}

impl<'a> IntoIterator for &'a ClassMeasurements {
    type Item = &'a ClassMeasurement;
    type IntoIter = core::slice::Iter<'a, ClassMeasurement>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for ClassMeasurements {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for ClassMeasurements {}

impl core::fmt::Debug for ClassMeasurements {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One size class's share of a [`Measurement`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassMeasurement {
    /// Class number (0 = large objects).
    pub class: usize,
    /// Slot size in bytes (0 for large objects).
    pub size: usize,
    /// Objects allocated.
    pub allocs: u64,
    /// Objects freed.
    pub frees: u64,
    /// Refills caused.
    pub refills: u64,
}

#[derive(Clone, Copy)]
struct Counts {
    allocs: [u64; NUM_CLASSES],
    frees: [u64; NUM_CLASSES],
    refills: [u64; NUM_CLASSES],
    large_bytes: u64,
    large_freed_bytes: u64,
}

fn read() -> Counts {
    let mut c = Counts {
        allocs: [0; NUM_CLASSES],
        frees: [0; NUM_CLASSES],
        refills: [0; NUM_CLASSES],
        large_bytes: 0,
        large_freed_bytes: 0,
    };
    // SAFETY: the calling thread's own live state, or null.
    let Some(prof) = (unsafe { hooks::current().as_ref() }) else {
        return c;
    };
    // SAFETY: the program cache beside the thread's state lives as long as it.
    let Some(cache) = (unsafe { prof.cache.as_ref() }) else {
        return c;
    };
    for class in 1..NUM_CLASSES {
        let k = cache.counts(class);
        c.allocs[class] = k.allocs;
        c.frees[class] = k.frees;
        c.refills[class] = k.refills;
    }
    c.allocs[0] = cache.large.allocs.load(Ordering::Relaxed);
    c.frees[0] = cache.large.frees.load(Ordering::Relaxed);
    c.large_bytes = cache.large.bytes.load(Ordering::Relaxed);
    c.large_freed_bytes = cache.large.freed_bytes.load(Ordering::Relaxed);
    c
}

/// Runs `f` and reports what it allocated on this thread, per size class.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
///
/// let (v, m) = spanprof::measure(|| (0..100).map(|i| Box::new([i as u8; 33])).collect::<Vec<_>>());
/// // 100 boxes in the 48 B class, plus the Vec's buffer.
/// let c48 = m.classes.iter().find(|c| c.size == 48).unwrap();
/// assert_eq!(c48.allocs, 100);
/// assert_eq!(m.live_objects, 101);
/// drop(v);
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measurement) {
    struct Stop(Option<hooks::SavedWatch>);
    impl Drop for Stop {
        fn drop(&mut self) {
            // Also when `f` unwinds: the watch of this thread ends with it.
            if let Some(s) = self.0.take() {
                hooks::watch_stop(s);
            }
        }
    }
    let mut stop = Stop(Some(hooks::watch_start()));
    let before = read();
    let r = f();
    let after = read();
    let mut m = diff(&before, &after);
    if let Some(s) = stop.0.take() {
        m.peak_bytes = hooks::watch_stop(s);
    }
    (r, m)
}

fn diff(b: &Counts, a: &Counts) -> Measurement {
    let mut m = Measurement::default();
    for class in 0..NUM_CLASSES {
        let allocs = a.allocs[class] - b.allocs[class];
        let frees = a.frees[class] - b.frees[class];
        let refills = a.refills[class] - b.refills[class];
        if allocs == 0 && frees == 0 && refills == 0 {
            continue;
        }
        let size = if class == 0 { 0 } else { class_size(class) };
        m.allocs += allocs;
        m.frees += frees;
        m.refills += refills;
        if class != 0 {
            m.bytes_allocated += allocs * size as u64;
            m.bytes_freed += frees * size as u64;
        }
        m.classes.push(ClassMeasurement {
            class,
            size,
            allocs,
            frees,
            refills,
        });
    }
    m.bytes_allocated += a.large_bytes - b.large_bytes;
    m.bytes_freed += a.large_freed_bytes - b.large_freed_bytes;
    m.live_objects = m.allocs as i64 - m.frees as i64;
    m.live_bytes = m.bytes_allocated as i64 - m.bytes_freed as i64;
    m
}
