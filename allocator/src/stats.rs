//! Counter snapshots: what [`crate::stats()`] returns.
//!
//! The counters themselves live where they are cheapest to bump (per thread cache,
//! per central list, in the page heap); `Heap::stats` in `heap.rs` reads them all
//! into these plain values. Nothing here allocates: a snapshot is a fixed-size value
//! that is safe to take from anywhere, including a test running under spanprof.
//!
//! # The program's figures and spanprof's own
//!
//! spanprof never counts itself. Whatever it allocates to build, symbolize or write
//! a profile (on any thread, including a signal or interval writer), and the
//! [`Profile`](crate::Profile) that [`crate::profile()`] hands back, is on the
//! *profiler's* books: [`Stats::profiler`] reports it, and nothing else does.
//! Everything else in a snapshot is the *program's* alone, at any moment:
//!
//! * program-only: [`ClassStats`]' `allocs`, `frees`, `bytes_allocated`,
//!   `bytes_freed`, `live_objects`, `live_bytes`, `refills`, `remote_frees`; all of
//!   [`LargeStats`]; the totals of [`Stats`] (`total_allocs`, `live_bytes`, …). The
//!   profile's class, large-object, site and sample figures are these too.
//! * heap-wide (memory is shared, so these include what the profiler holds):
//!   [`ClassStats::spans_in_use`] and every [`HeapStats`] figure (arenas, bytes mapped
//!   and in use, scavenging, metadata), except `thread_caches`, which counts the
//!   program's threads.
//!
//! So two snapshots with only spanprof's work between them (`write_profile`,
//! `profile()`, `site_stats`, `measure`, `stats` itself) have the same program
//! figures, and dropping a `Profile` later does not change them either.

use crate::size_class::NUM_CLASSES;

/// Counters of one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Class number (1 ..= 67).
    pub class: usize,
    /// Slot size in bytes.
    pub size: usize,
    /// Objects allocated.
    pub allocs: u64,
    /// Objects freed.
    pub frees: u64,
    /// `allocs × size`.
    pub bytes_allocated: u64,
    /// `frees × size`.
    pub bytes_freed: u64,
    /// `allocs − frees`.
    pub live_objects: u64,
    /// `live_objects × size`.
    pub live_bytes: u64,
    /// Times a thread cache took a new span from the central list.
    pub refills: u64,
    /// Frees of slots in spans the freeing thread did not hold.
    pub remote_frees: u64,
    /// Spans of this class cut from the page heap and not yet returned (heap-wide:
    /// spans the profiler's objects use are counted too).
    pub spans_in_use: u64,
}

/// Counters of the large-object path (> 32 KiB, page-rounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LargeStats {
    /// Large objects allocated.
    pub allocs: u64,
    /// Large objects freed.
    pub frees: u64,
    /// Page-rounded bytes allocated.
    pub bytes_allocated: u64,
    /// Page-rounded bytes freed.
    pub bytes_freed: u64,
    /// Bytes asked for (so `bytes_allocated − requested_bytes` is rounding waste),
    /// following in-place reallocations.
    pub requested_bytes: u64,
}

/// Page-heap counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// 64 MiB arenas reserved so far (the heap never shrinks its address space).
    pub arenas_mapped: u64,
    /// Bytes of address space reserved for objects (arenas and huge mappings).
    pub bytes_mapped: u64,
    /// Bytes in pages held by spans and large objects.
    pub bytes_in_use: u64,
    /// Bytes returned to the OS by the scavenger, in total.
    pub bytes_scavenged: u64,
    /// Scavenger passes that released anything.
    pub scavenge_runs: u64,
    /// Objects larger than an arena, each in a mapping of its own (total made).
    pub direct_mappings: u64,
    /// Bytes mapped for span records and thread caches.
    pub metadata_bytes: u64,
    /// Thread caches alive (one per thread that allocated; the profiler's own caches
    /// are not counted).
    pub thread_caches: u64,
}

/// What spanprof itself allocated (building, symbolizing and writing profiles, the
/// `Profile`s [`crate::profile()`] returned), small and large objects together. None
/// of it is in any other figure of a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfilerStats {
    /// Objects allocated.
    pub allocs: u64,
    /// Objects freed.
    pub frees: u64,
    /// Slot (or page-rounded) bytes allocated.
    pub bytes_allocated: u64,
    /// Slot (or page-rounded) bytes freed.
    pub bytes_freed: u64,
    /// `allocs − frees`.
    pub live_objects: u64,
    /// `bytes_allocated − bytes_freed`: what the profiler holds now (a cache it keeps
    /// across writes, a `Profile` the program still holds).
    pub live_bytes: u64,
    /// Spans the profiler's allocations took from the central lists.
    pub refills: u64,
}

/// A snapshot of every allocator counter.
///
/// The program's figures only, except where noted (see the [module docs](self)):
/// spanprof's own allocations are in `profiler`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Indexed by class; entry 0 is unused (see `large`).
    pub classes: [ClassStats; NUM_CLASSES],
    /// Objects larger than 32 KiB.
    pub large: LargeStats,
    /// Arenas, pages and scavenging (heap-wide: the profiler's memory included).
    pub heap: HeapStats,
    /// spanprof's own allocations, counted apart from everything above.
    pub profiler: ProfilerStats,
}

impl Stats {
    /// The 67 size classes (entry 0 skipped).
    pub fn size_classes(&self) -> &[ClassStats] {
        &self.classes[1..]
    }

    /// Objects allocated, small and large.
    pub fn total_allocs(&self) -> u64 {
        self.size_classes().iter().map(|c| c.allocs).sum::<u64>() + self.large.allocs
    }

    /// Objects freed, small and large.
    pub fn total_frees(&self) -> u64 {
        self.size_classes().iter().map(|c| c.frees).sum::<u64>() + self.large.frees
    }

    /// Slot (or page-rounded) bytes live now.
    pub fn live_bytes(&self) -> u64 {
        self.size_classes()
            .iter()
            .map(|c| c.live_bytes)
            .sum::<u64>()
            + (self.large.bytes_allocated - self.large.bytes_freed)
    }

    /// Refills across all classes.
    pub fn total_refills(&self) -> u64 {
        self.size_classes().iter().map(|c| c.refills).sum()
    }
}
