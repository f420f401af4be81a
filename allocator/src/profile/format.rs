//! The profile file: a versioned JSON document, written by `writer.rs` (through
//! `json.rs`) and read by the `spanprof` CLI (through serde, with the `serde`
//! feature).
//!
//! Every field is documented in `docs/profile-format.md`; the types here are the
//! format. Readers must accept unknown fields (new minor versions add fields with
//! defaults) and must reject a different major `version`.
//!
//! Version 2 stores sampled stacks as pprof does: each distinct address once (a
//! [`Location`], with its resolved [`Line`]s and the [`Mapping`] it falls in), each
//! distinct stack once (a [`Stack`] of location indices), and samples that name a
//! stack, so a profile grows with the distinct stacks, not with the samples.

#![allow(missing_docs)] // every field is documented in docs/profile-format.md

/// The format's version: bump on incompatible changes.
pub const FORMAT_VERSION: u32 = 2;

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
    /// Loaded modules (executable segments) that locations fall in.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mappings: Vec<Mapping>,
    /// Every distinct address of the sampled stacks, symbolized once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub locations: Vec<Location>,
    /// Every distinct sampled stack, as location indices.
    #[cfg_attr(feature = "serde", serde(default))]
    pub stacks: Vec<Stack>,
    /// Sampled allocations per native stack, slot size and rate.
    pub samples: Vec<Sample>,
    /// Sampled allocations dropped because the stack table was full.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dropped_samples: u64,
    /// Return addresses kept per stack (`SPANPROF_MAX_FRAMES`); a stack cut there
    /// ends in the [`TRUNCATED`] frame. 0 = unknown (a version-1 file).
    #[cfg_attr(feature = "serde", serde(default))]
    pub max_frames: u32,
    /// Every type marked with `#[track_alloc]`, with its size class (added in 0.1
    /// without a version bump: older files have none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub types: Vec<TypeRow>,
    /// True when exact site frees were off for some of the run
    /// (`spanprof::set_site_frees(false)`, `SPANPROF_SITE_FREES=0`): the sites'
    /// `frees` and `live_*` figures then miss frees and are not to be shown; the
    /// sampled stacks' in-use figures still are. Added in 0.1 without a version bump:
    /// older files (exact) have none.
    #[cfg_attr(feature = "serde", serde(default))]
    pub site_counts_only: bool,
    /// The moment the heap was largest and what was live then (issue 14; all zero
    /// and empty when nothing was recorded, as in older files).
    #[cfg_attr(feature = "serde", serde(default))]
    pub peak: Peak,
    /// All temporary allocations of the program (freed with no other allocation on
    /// that thread in between), any site or none.
    #[cfg_attr(feature = "serde", serde(default))]
    pub temporary_total: u64,
    /// The heap over time (empty `points` when none was recorded).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeline: Timeline,
}

/// The moment the heap was largest and what was live then.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Peak {
    /// Milliseconds since the program started (the clock of `HeapEvent::at_ms`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub t_ms: u64,
    /// The heap's live bytes at its largest (small objects at slot bytes, large
    /// objects page-rounded).
    #[cfg_attr(feature = "serde", serde(default))]
    pub live_bytes: u64,
    /// Mapped bytes at that moment.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mapped_bytes: u64,
    /// Per site stack and size class, what was live then (exact).
    #[cfg_attr(feature = "serde", serde(default))]
    pub site_stats: Vec<PeakSiteStat>,
    /// Per sampled stack, slot size and rate, what was in use then.
    #[cfg_attr(feature = "serde", serde(default))]
    pub samples: Vec<PeakSample>,
}

/// What one site stack and size class had live at the peak.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeakSiteStat {
    /// Site ids, outermost first, as [`SiteStat::stack`].
    pub stack: Vec<u32>,
    pub class: u32,
    pub live_objects: u64,
    pub live_bytes: u64,
}

/// What one sampled stack had in use at the peak.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeakSample {
    /// Index into [`Profile::stacks`].
    pub stack: u32,
    pub size: u64,
    pub rate: u64,
    /// Raw sampled objects in use, and the estimates for the whole program.
    pub inuse_objects: u64,
    pub inuse_objects_est: f64,
    pub inuse_bytes_est: f64,
}

/// The heap over time: points in time order at `interval_ms` resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeline {
    /// The points' resolution now (it doubles each time the buffer is halved).
    #[cfg_attr(feature = "serde", serde(default))]
    pub interval_ms: u64,
    #[cfg_attr(feature = "serde", serde(default))]
    pub points: Vec<TimelinePoint>,
}

/// One point of the timeline: levels at `t_ms` and cumulative totals up to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimelinePoint {
    pub t_ms: u64,
    pub live_bytes: u64,
    /// Page-heap pages in use, in bytes.
    pub heap_in_use_bytes: u64,
    pub mapped_bytes: u64,
    /// Resident set (`/proc/self/statm`).
    pub rss_bytes: u64,
    /// Cumulative: allocations, refills and scavenged bytes so far.
    pub allocs: u64,
    pub refills: u64,
    pub scavenged_bytes: u64,
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
    /// Temporary allocations: objects freed with no other allocation on that thread
    /// in between (exact).
    #[cfg_attr(feature = "serde", serde(default))]
    pub temporary: u64,
}

/// A loaded module's executable segment: where it was in memory, which file it came
/// from, and that file's GNU build ID, so its addresses can be symbolized later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mapping {
    /// The module's file (the executable's path for the program itself).
    pub path: String,
    /// The `NT_GNU_BUILD_ID` note, lowercase hex; empty when the module has none.
    pub build_id: String,
    /// The segment's first and one-past-last address in memory.
    pub start: u64,
    pub end: u64,
    /// Offset in the file of the byte mapped at `start`.
    pub file_offset: u64,
    /// What was added to the file's virtual addresses when it was loaded
    /// (`dlpi_addr`): `address - load_bias` is the address in the file.
    pub load_bias: u64,
}

/// One distinct address of the sampled stacks, with what it resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Location {
    /// The return address (0 for the [`TRUNCATED`] marker).
    pub address: u64,
    /// Index into [`Profile::mappings`]; `None` when no loaded module holds it.
    pub mapping: Option<u32>,
    /// `address - load_bias` of its mapping: the address in the module's file, what
    /// `addr2line -e FILE` takes. Equal to `address` when there is no mapping.
    pub offset: u64,
    /// The functions at this address, innermost first: every line but the last is
    /// inlined into the next. Empty when the address did not resolve.
    pub lines: Vec<Line>,
}

/// One function at a location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Line {
    /// Demangled name, no hash.
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// True for a function inlined into its caller at the same address.
    pub inlined: bool,
}

/// A distinct sampled stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stack {
    /// Indices into [`Profile::locations`], innermost (the allocating call) first.
    pub locations: Vec<u32>,
}

/// The function name of the location a cut stack ends in (its outermost frame).
pub const TRUNCATED: &str = "[truncated]";

#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    /// Index into [`Profile::stacks`].
    pub stack: u32,
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
    /// Temporary allocations among the sampled ones (raw), and the estimate for the
    /// whole program.
    #[cfg_attr(feature = "serde", serde(default))]
    pub temporary_objects: u64,
    #[cfg_attr(feature = "serde", serde(default))]
    pub temporary_objects_est: f64,
}

/// One frame of a sampled stack as readers walk it: a line of a location, or the
/// bare address of a location that did not resolve.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    /// The function; empty when the address did not resolve (see [`FrameRef::name`]).
    pub function: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    /// The location's return address.
    pub address: u64,
    /// Inlined into the next frame (same address).
    pub inlined: bool,
    /// The location this frame is (a line of).
    pub location: &'a Location,
    /// Its mapping, when known.
    pub mapping: Option<&'a Mapping>,
}

impl<'a> FrameRef<'a> {
    /// The name to show: the function, or for an unresolved address `module+0xOFFSET`
    /// (the module's file name) or `0xADDRESS`.
    pub fn name(&self) -> std::borrow::Cow<'a, str> {
        if !self.function.is_empty() {
            return std::borrow::Cow::Borrowed(self.function);
        }
        match self.mapping {
            Some(m) => {
                let file = m.path.rsplit('/').next().unwrap_or(&m.path);
                std::borrow::Cow::Owned(format!("{file}+{:#x}", self.location.offset))
            }
            None => std::borrow::Cow::Owned(format!("{:#x}", self.address)),
        }
    }
}

impl Profile {
    /// The frames of stack `stack`, innermost first: every line of every location
    /// (inlined functions before the function they are inlined into), one bare frame
    /// per unresolved location. Nothing for an index the profile does not have.
    pub fn frames(&self, stack: u32) -> impl Iterator<Item = FrameRef<'_>> + '_ {
        let ids = self
            .stacks
            .get(stack as usize)
            .map_or(&[][..], |s| &s.locations[..]);
        ids.iter()
            .filter_map(|&id| self.locations.get(id as usize))
            .flat_map(move |loc| {
                let mapping = loc.mapping.and_then(|m| self.mappings.get(m as usize));
                let bare = loc.lines.is_empty().then_some(FrameRef {
                    function: "",
                    file: None,
                    line: None,
                    address: loc.address,
                    inlined: false,
                    location: loc,
                    mapping,
                });
                loc.lines
                    .iter()
                    .map(move |l| FrameRef {
                        function: &l.function,
                        file: l.file.as_deref(),
                        line: l.line,
                        address: loc.address,
                        inlined: l.inlined,
                        location: loc,
                        mapping,
                    })
                    .chain(bare)
            })
    }
}

/// Which frames of a stack to keep, as the runtime trims them when it writes a
/// profile: `names` are a stack's function names innermost first (one per line of
/// each location, `""` for an unresolved location), `truncated` whether the stack was
/// cut at the frame limit (its `[truncated]` marker left out of `names`). Drops
/// spanprof's own frames at the top (through the global-allocator shim) and, unless
/// cut, the runtime's below `main`; keeps unresolved frames of the program. Tools that
/// name more of a stack later (`spanprof symbolize`) trim it again with this.
pub fn trim_stack(names: &[&str], truncated: bool) -> std::ops::Range<usize> {
    trim(names, truncated, None)
}

/// The frames of a stack to keep: spanprof's own frames are dropped from the top and,
/// unless the stack was cut (it does not reach them), the runtime's below `main` from
/// the bottom. `names` are the function names, innermost first ("" = unresolved).
/// `own` is how many of the innermost frames are spanprof's by their addresses (see
/// `symbolize::own_frames`), used when no name shows where spanprof ends (a stripped binary).
///
/// The top boundary is the global-allocator shim (`__rust_alloc` and friends): every
/// allocation passes it, and everything above it is spanprof. Names alone would not
/// do: with line-tables-only debug info, inlined frames carry short names.
///
/// Unresolved frames are kept: at the bottom only those below a resolved runtime
/// frame go (the program's own frames of a stripped binary stay, to be named later
/// by `spanprof symbolize`).
pub(crate) fn trim(names: &[&str], truncated: bool, own: Option<usize>) -> std::ops::Range<usize> {
    let shim = |n: &&str| {
        let n = n.strip_prefix("__rustc::").unwrap_or(n);
        n.starts_with("__rust_alloc") || n.starts_with("__rust_realloc") || n.starts_with("__rdl_")
    };
    let ours = |n: &&str| n.starts_with("spanprof::") || n.starts_with("backtrace::");
    let start = match (names.iter().position(shim), own) {
        (Some(i), _) => i + 1,
        // Named frames past the address boundary that are still spanprof's (the
        // shim's inlined callees in a binary with symbols) go too.
        (None, Some(k)) => {
            let k = k.min(names.len());
            k + names[k..].iter().take_while(|n| ours(n)).count()
        }
        (None, None) => names.iter().position(|n| !ours(n)).unwrap_or(names.len()),
    };
    if truncated {
        return start..names.len();
    }
    let is_main = |n: &&str| (*n == "main" || n.ends_with("::main")) && !n.starts_with("std::");
    if let Some(main) = names[start..].iter().position(is_main) {
        return start..start + main + 1;
    }
    let runtime = |n: &str| {
        n.is_empty()
            || n.starts_with("std::sys::")
            || n.starts_with("std::thread::")
            || n.starts_with("core::ops::function::")
            || n.starts_with("std::rt::")
            || n.starts_with("std::panic")
            || n.starts_with("__libc_start")
            || n == "_start"
            || n == "start_thread"
            || n == "clone3"
            || n == "clone"
            || n.starts_with("0x")
    };
    let mut end = names.len();
    while end > start && runtime(names[end - 1]) {
        end -= 1;
    }
    // Unresolved frames just above the runtime's are the program's (a stripped
    // binary's `main` and the functions it called): keep them.
    while end < names.len() && names[end].is_empty() {
        end += 1;
    }
    start..end
}

/// The name to give the outermost (non-inlined) function of a location: the symbol
/// table's full path `symbol` where the line tables name it only by its short name
/// (line-tables-only debug info gives `build` for `app::parser::build`, so two
/// `build`s would be one), else the line tables' name. Generic arguments after the
/// short name (`collect<…>`) do not count as a path.
pub fn qualified_name(line_tables: &str, symbol: Option<&str>) -> String {
    let Some(sym) = symbol.filter(|s| !s.is_empty()) else {
        return line_tables.to_string();
    };
    if line_tables.is_empty() {
        return sym.to_string();
    }
    let base = line_tables.split('<').next().unwrap_or(line_tables);
    let last = sym.rsplit("::").next().unwrap_or(sym);
    if !base.is_empty() && !base.contains("::") && last == base {
        sym.to_string()
    } else {
        line_tables.to_string()
    }
}
