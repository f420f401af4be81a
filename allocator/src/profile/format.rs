//! The profile file: a versioned JSON document, written by `writer.rs` (through
//! `json.rs`) and read by the `spanprof` CLI (through serde, with the `serde`
//! feature).
//!
//! Every field is documented in `docs/profile-format.md`; the types here are the
//! format. Readers must accept unknown fields (new minor versions add fields with
//! defaults) and must reject a different major `version`.

#![allow(missing_docs)] // every field is documented in docs/profile-format.md

/// The format's version: bump on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole profile.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Profile {
    /// Always [`FORMAT_VERSION`] for files this crate writes.
    pub version: u32,
    /// `spanprof` crate version that wrote the file.
    pub spanprof_version: String,
    /// Program name (`argv[0]`) and arguments.
    pub program: String,
    pub args: Vec<String>,
    pub pid: u32,
    /// Wall-clock start and end, in milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    /// Sampling rate in bytes (0 = no stacks were taken).
    pub sample_rate: u64,
    /// What the reader should know about how this profile was taken, one sentence
    /// each (e.g. frame-pointer stacks asked for in a build without frame pointers).
    /// The CLI prints them with every report and graph (added in 0.1 without a
    /// version bump: older files have none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub warnings: Vec<String>,
    /// Go's size classes: class 1 ..= 67.
    pub size_classes: Vec<SizeClassRow>,
    /// Counters per size class (the classes any allocation touched, plus empty ones).
    pub classes: Vec<ClassCounters>,
    /// Objects over 32 KiB.
    pub large: LargeCounters,
    /// Page-heap figures at the end.
    pub heap: HeapFigures,
    /// Heap growth and scavenging, in order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub events: Vec<HeapEvent>,
    /// Every site in the binary, called or not.
    pub sites: Vec<SiteInfo>,
    /// Allocations per site stack and size class; the "(no site)" stack (empty
    /// `stack`) holds the rest, so every class sums to its `classes` entry.
    pub site_stats: Vec<SiteStat>,
    /// Sampled allocations per native stack and slot size.
    pub samples: Vec<Sample>,
    /// Sampled allocations dropped because the stack table was full.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dropped_samples: u64,
    /// Every type marked with `#[track_alloc]`, with its size class (added in 0.1
    /// without a version bump: older files have none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub types: Vec<TypeRow>,
}

/// A type marked with `#[track_alloc]`, mapped to the slot a boxed value of it takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TypeRow {
    pub name: String,
    pub module: String,
    pub file: String,
    pub line: u32,
    pub size: u64,
    pub align: u64,
    /// The class `Box::new` of a value lands in (0 = large).
    pub size_class: u32,
    /// Slot size of that class, or the page-rounded size of a large object.
    pub slot_size: u64,
    /// `slot_size - size`: bytes lost to rounding per object.
    pub waste: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SizeClassRow {
    pub class: u32,
    pub size: u64,
    pub pages: u32,
    pub objects: u32,
    pub tail_waste: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClassCounters {
    pub class: u32,
    pub size: u64,
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub refills: u64,
    pub remote_frees: u64,
    pub spans_in_use: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LargeCounters {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub bytes_freed: u64,
    pub requested_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HeapFigures {
    pub arenas_mapped: u64,
    pub bytes_mapped: u64,
    pub bytes_in_use: u64,
    pub bytes_scavenged: u64,
    pub metadata_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HeapEvent {
    /// Milliseconds since the program started.
    pub at_ms: u64,
    /// `arena_mapped`, `huge_mapped` or `scavenged`.
    pub kind: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SiteInfo {
    /// Index used by `SiteStat::stack`.
    pub id: u32,
    pub name: String,
    pub module: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub findings: Vec<FindingInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FindingInfo {
    pub line: u32,
    pub column: u32,
    pub expr: String,
    pub kind: String,
    pub reason: String,
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub type_name: Option<String>,
    pub size: Option<u64>,
    pub align: Option<u64>,
    /// The size class a value of `size` bytes lands in (0 = large), when known.
    pub size_class: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SiteStat {
    /// Site ids, outermost first; empty = "(no site)".
    pub stack: Vec<u32>,
    /// Size class (0 = large objects).
    pub class: u32,
    pub allocs: u64,
    pub slot_bytes: u64,
    /// Bytes asked for; `slot_bytes - requested_bytes` is rounding waste.
    pub requested_bytes: u64,
    pub refills: u64,
    pub frees: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    /// Frames, innermost (the allocating call) first.
    pub frames: Vec<Frame>,
    /// Slot size of the sampled allocations.
    pub size: u64,
    /// Sampling rate these allocations were sampled at.
    pub rate: u64,
    /// Raw counts of sampled allocations and of their frees.
    pub alloc_objects: u64,
    pub alloc_bytes: u64,
    pub free_objects: u64,
    pub free_bytes: u64,
    /// Estimates for the whole program: raw × 1/(1 − e^(−size/rate)), as pprof does.
    pub alloc_objects_est: f64,
    pub alloc_bytes_est: f64,
    pub inuse_objects_est: f64,
    pub inuse_bytes_est: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Frame {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Return address (or inlined frames share their caller's).
    pub address: u64,
    /// True for a frame inlined into the next one.
    pub inlined: bool,
}
