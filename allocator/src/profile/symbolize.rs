//! Symbolizing the sampled stacks when a profile is written, into the interned tables
//! of the format: mappings, locations, stacks and samples.
//!
//! Each distinct return address is resolved once (to its functions, inlined ones
//! first, with file and line) and placed in the loaded module that holds it (path,
//! GNU build ID, executable segment, from `dl_iterate_phdr` and the program headers).
//! Each stack is trimmed of spanprof's own frames at the top and of the runtime's
//! below `main` at the bottom, cut to the frame limit, and ended by the
//! [`TRUNCATED`] location when it went on beyond it; then it is interned as a list of
//! location indices. Records of the same trimmed stack, size and rate become one
//! sample. Runs with the hooks suspended: it allocates.

use std::collections::HashMap;
use std::ops::Range;

use crate::profile::format::{
    Line, Location, Mapping, Sample, Stack, TRUNCATED, qualified_name, trim,
};
use crate::profile::sample::{SampledStack, Snapshot};

/// The sampled part of a profile.
#[derive(Debug, Default)]
pub struct Symbolized {
    pub mappings: Vec<Mapping>,
    pub locations: Vec<Location>,
    pub stacks: Vec<Stack>,
    pub samples: Vec<Sample>,
    /// Per record of the snapshot, the index of the sample it went into.
    pub record_samples: Vec<Option<u32>>,
}

/// Resolves every distinct address once and interns locations, stacks and samples.
pub fn symbolize(snap: &Snapshot) -> Symbolized {
    let mut resolved: HashMap<usize, Vec<Line>> = HashMap::new();
    for s in &snap.stacks {
        for &ip in &s.ips {
            resolved.entry(ip).or_insert_with(|| resolve(ip));
        }
    }
    let modules = modules();
    qualify(&mut resolved, &modules);
    let mut b = Builder::new(modules, &resolved, snap.max_frames);
    let stack_ids: Vec<u32> = snap.stacks.iter().map(|s| b.stack(s)).collect();
    let mut samples: Vec<Sample> = Vec::new();
    let mut sample_ids: HashMap<(u32, u64, u64), usize> = HashMap::new();
    let mut record_samples = Vec::with_capacity(snap.records.len());
    for r in &snap.records {
        let Some(&stack) = stack_ids.get(r.stack as usize) else {
            record_samples.push(None);
            continue;
        };
        let i = *sample_ids
            .entry((stack, r.size, r.rate))
            .or_insert_with(|| {
                samples.push(Sample {
                    stack,
                    size: r.size,
                    rate: r.rate,
                    ..Sample::default()
                });
                samples.len() - 1
            });
        record_samples.push(Some(i as u32));
        let s = &mut samples[i];
        s.alloc_objects += r.alloc_objects;
        s.alloc_bytes += r.alloc_bytes;
        s.free_objects += r.free_objects;
        s.free_bytes += r.free_bytes;
        s.temporary_objects += r.temporary_objects;
    }
    for s in &mut samples {
        let scale = unbias(s.size, s.rate);
        let inuse_objects = s.alloc_objects.saturating_sub(s.free_objects);
        let inuse_bytes = s.alloc_bytes.saturating_sub(s.free_bytes);
        s.alloc_objects_est = s.alloc_objects as f64 * scale;
        s.alloc_bytes_est = s.alloc_bytes as f64 * scale;
        s.inuse_objects_est = inuse_objects as f64 * scale;
        s.inuse_bytes_est = inuse_bytes as f64 * scale;
        s.temporary_objects_est = s.temporary_objects as f64 * scale;
    }
    Symbolized {
        mappings: b.mappings,
        locations: b.locations,
        stacks: b.stacks,
        samples,
        record_samples,
    }
}

/// pprof's correction for byte sampling: an allocation of `size` bytes is sampled
/// with probability 1 − e^(−size/rate).
pub fn unbias(size: u64, rate: u64) -> f64 {
    if rate <= 1 || size == 0 {
        return 1.0;
    }
    1.0 / super::expmath::one_minus_exp_neg(size as f64 / rate as f64)
}

/// The functions at return address `ip`, innermost first; empty when nothing
/// resolves it.
fn resolve(ip: usize) -> Vec<Line> {
    let mut out = Vec::new();
    // A return address points after the call: look up the call instruction itself.
    let lookup = ip.saturating_sub(1);
    backtrace::resolve(lookup as *mut core::ffi::c_void, |sym| {
        out.push(Line {
            function: sym.name().map_or_else(String::new, |n| format!("{n:#}")),
            file: sym.filename().map(|f| f.display().to_string()),
            line: sym.lineno(),
            inlined: true,
        });
    });
    // The last symbol of an address is the real (non-inlined) frame.
    if let Some(last) = out.last_mut() {
        last.inlined = false;
    }
    out
}

/// Gives the outermost function of each address its symbol table's full path where
/// the line tables name it by its short name only (see
/// [`qualified_name`]). Reads a module's symbol table from its file,
/// once, and only when some address of it needs it.
fn qualify(resolved: &mut HashMap<usize, Vec<Line>>, modules: &[Module]) {
    // Only Rust functions named by line tables: a C function's plain name (`malloc`,
    // `main`) is its full name, and its module's file need not be read for it.
    let short = |l: &Line| {
        let base = l.function.split('<').next().unwrap_or("");
        !base.is_empty()
            && !base.contains("::")
            && l.file.as_deref().is_some_and(|f| f.ends_with(".rs"))
    };
    let mut tables: HashMap<usize, Option<Symtab>> = HashMap::new();
    for (&ip, lines) in resolved.iter_mut() {
        let Some(last) = lines.last_mut().filter(|l| short(l)) else {
            continue;
        };
        let at = (ip as u64).saturating_sub(1);
        let Some(m) = modules
            .iter()
            .position(|m| m.segments.iter().any(|s| s.start <= at && at < s.end))
        else {
            continue;
        };
        let table = tables
            .entry(m)
            .or_insert_with(|| Symtab::read(&modules[m].path));
        if let Some(name) = table
            .as_ref()
            .and_then(|t| t.name(at.wrapping_sub(modules[m].load_bias)))
        {
            last.function = qualified_name(&last.function, Some(&name));
        }
    }
}

/// A module's function symbols: (address in the file, size, raw name), by address.
struct Symtab(Vec<(u64, u64, String)>);

impl Symtab {
    fn read(path: &str) -> Option<Symtab> {
        use object::{Object, ObjectSymbol};
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let mut syms: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        syms.sort_unstable_by_key(|s| s.0);
        Some(Symtab(syms))
    }

    /// The demangled name (no hash) of the function holding file address `at`.
    fn name(&self, at: u64) -> Option<String> {
        let i = self.0.partition_point(|s| s.0 <= at).checked_sub(1)?;
        let (start, size, name) = &self.0[i];
        (at < start.saturating_add(*size))
            .then(|| format!("{:#}", backtrace::SymbolName::new(name.as_bytes())))
    }
}

/// The addresses of the entry points' out-of-line allocation functions (`malloc.rs`'s
/// `alloc_slow`, which every sampled allocation passes through, and
/// `alloc_hooked_small`, which may call it);
/// registered by the entry points at start-up ([`set_entry_anchors`]), since the
/// profiler sits below them and does not name them.
static ENTRY_ANCHORS: [core::sync::atomic::AtomicUsize; 2] =
    [const { core::sync::atomic::AtomicUsize::new(0) }; 2];

/// Registers the entry points' out-of-line allocation functions (see [`own_frames`]).
pub fn set_entry_anchors(fs: [usize; 2]) {
    for (a, f) in ENTRY_ANCHORS.iter().zip(fs) {
        a.store(f, core::sync::atomic::Ordering::Relaxed);
    }
}

/// How many of the innermost return addresses of a stack are spanprof's own frames,
/// found by addresses alone, so that it works without symbols: every sampled
/// allocation passes through the entry points' out-of-line `alloc_slow` and the
/// allocation hook `hooks::on_alloc`, so the stack's
/// frames up to the outermost one in any of them
/// (their bounds come from the unwinder's tables, `.eh_frame`, which stripping keeps)
/// are the sampler's and the allocator's. Both are looked for: the compiler may
/// inline the hook into `alloc_slow`, or make the hook a tail call that leaves no
/// `alloc_slow` frame. What called `alloc_slow` is not told apart by address: the
/// shim (`__rust_alloc`, the `GlobalAlloc` method) when it is a function of its own,
/// or the program's function when link-time optimisation inlined the shim into it;
/// so those frames stay, and once named (`spanprof symbolize`) the shim's are
/// trimmed by name. `None` when no frame is in either.
fn own_frames(ips: &[usize]) -> Option<usize> {
    let anchors = [
        ENTRY_ANCHORS[0].load(core::sync::atomic::Ordering::Relaxed),
        ENTRY_ANCHORS[1].load(core::sync::atomic::Ordering::Relaxed),
        crate::profile::hooks::on_alloc as *const () as usize,
    ]
    .map(|f| if f == 0 { None } else { function_start(f + 1) });
    // The sampler's frames come first: look no deeper than they can go.
    let near = ips.len().min(crate::profile::sample::OWN_FRAMES + 8);
    (0..near)
        .rev()
        .find(|&i| {
            let f = function_start(ips[i]);
            f.is_some() && anchors.contains(&f)
        })
        .map(|i| i + 1)
}

/// The first address of the function holding the call before return address `ip`,
/// from the unwinder's tables.
fn function_start(ip: usize) -> Option<usize> {
    unsafe extern "C" {
        // libgcc's unwinder (and LLVM's libunwind), which std links on these targets.
        fn _Unwind_FindEnclosingFunction(pc: *mut core::ffi::c_void) -> *mut core::ffi::c_void;
    }
    if ip == 0 {
        return None;
    }
    // libgcc looks up `ip - 1` itself, as for a return address.
    // SAFETY: a pure look-up in the unwinder's tables; any address is accepted and an
    // unknown one gives null.
    let f = unsafe { _Unwind_FindEnclosingFunction(ip as *mut core::ffi::c_void) };
    (!f.is_null()).then_some(f as usize)
}

/// Interns the tables while stacks are turned into location lists.
struct Builder<'a> {
    modules: Vec<Module>,
    resolved: &'a HashMap<usize, Vec<Line>>,
    max_frames: usize,
    mappings: Vec<Mapping>,
    /// (module, segment) → mapping index.
    mapping_ids: HashMap<(usize, usize), u32>,
    locations: Vec<Location>,
    /// (address, kept lines) → location index: a location trimmed to some of its
    /// inlined lines is a location of its own.
    location_ids: HashMap<(usize, Range<usize>), u32>,
    truncated: Option<u32>,
    stacks: Vec<Stack>,
    stack_ids: HashMap<Vec<u32>, u32>,
}

impl<'a> Builder<'a> {
    fn new(
        modules: Vec<Module>,
        resolved: &'a HashMap<usize, Vec<Line>>,
        max_frames: usize,
    ) -> Self {
        Builder {
            modules,
            resolved,
            max_frames,
            mappings: Vec::new(),
            mapping_ids: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            truncated: None,
            stacks: Vec::new(),
            stack_ids: HashMap::new(),
        }
    }

    fn lines(&self, ip: usize) -> &'a [Line] {
        self.resolved.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// The trimmed, cut and interned stack of `s`.
    fn stack(&mut self, s: &SampledStack) -> u32 {
        // One frame per line of each address (one for an unresolved address):
        // (index in `s.ips`, line index).
        let mut frames: Vec<(usize, usize)> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (i, &ip) in s.ips.iter().enumerate() {
            let lines = self.lines(ip);
            if lines.is_empty() {
                frames.push((i, 0));
                names.push("");
            }
            for (j, l) in lines.iter().enumerate() {
                frames.push((i, j));
                names.push(&l.function);
            }
        }
        let own = own_frames(&s.ips).map(|k| frames.iter().take_while(|f| f.0 < k).count());
        let kept = &frames[trim(&names, s.truncated, own)];
        let mut ids: Vec<u32> = Vec::new();
        let mut k = 0;
        while k < kept.len() {
            let i = kept[k].0;
            let lo = kept[k].1;
            let mut hi = lo + 1;
            k += 1;
            while k < kept.len() && kept[k].0 == i {
                hi = kept[k].1 + 1;
                k += 1;
            }
            ids.push(self.location(s.ips[i], lo..hi));
        }
        let truncated = s.truncated || ids.len() > self.max_frames;
        if truncated {
            ids.truncate(self.max_frames);
            ids.push(self.truncated_location());
        }
        let next = self.stacks.len() as u32;
        match self.stack_ids.get(&ids) {
            Some(&id) => id,
            None => {
                self.stack_ids.insert(ids.clone(), next);
                self.stacks.push(Stack { locations: ids });
                next
            }
        }
    }

    /// The location of `ip` keeping lines `keep` of its resolved lines.
    fn location(&mut self, ip: usize, keep: Range<usize>) -> u32 {
        let lines = self.lines(ip);
        let keep = keep.start.min(lines.len())..keep.end.min(lines.len());
        if let Some(&id) = self.location_ids.get(&(ip, keep.clone())) {
            return id;
        }
        let (mapping, offset) = match self.module_of(ip) {
            Some((m, seg)) => {
                let bias = self.modules[m].load_bias;
                (Some(self.mapping(m, seg)), (ip as u64).wrapping_sub(bias))
            }
            None => (None, ip as u64),
        };
        let id = self.locations.len() as u32;
        self.locations.push(Location {
            address: ip as u64,
            mapping,
            offset,
            lines: lines[keep.clone()].to_vec(),
        });
        self.location_ids.insert((ip, keep), id);
        id
    }

    /// The module and executable segment holding the call before return address `ip`.
    fn module_of(&self, ip: usize) -> Option<(usize, usize)> {
        let at = (ip as u64).saturating_sub(1);
        self.modules.iter().enumerate().find_map(|(m, module)| {
            module
                .segments
                .iter()
                .position(|s| s.start <= at && at < s.end)
                .map(|seg| (m, seg))
        })
    }

    fn mapping(&mut self, m: usize, seg: usize) -> u32 {
        if let Some(&id) = self.mapping_ids.get(&(m, seg)) {
            return id;
        }
        let module = &self.modules[m];
        let s = &module.segments[seg];
        let id = self.mappings.len() as u32;
        self.mappings.push(Mapping {
            path: module.path.clone(),
            build_id: module.build_id.clone(),
            start: s.start,
            end: s.end,
            file_offset: s.file_offset,
            load_bias: module.load_bias,
        });
        self.mapping_ids.insert((m, seg), id);
        id
    }

    fn truncated_location(&mut self) -> u32 {
        if let Some(id) = self.truncated {
            return id;
        }
        let id = self.locations.len() as u32;
        self.locations.push(Location {
            address: 0,
            mapping: None,
            offset: 0,
            lines: vec![Line {
                function: TRUNCATED.to_string(),
                file: None,
                line: None,
                inlined: false,
            }],
        });
        self.truncated = Some(id);
        id
    }
}

/// A loaded module: its file, build ID and executable segments.
#[derive(Clone, Debug, Default)]
struct Module {
    path: String,
    build_id: String,
    load_bias: u64,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, Default)]
struct Segment {
    start: u64,
    end: u64,
    file_offset: u64,
}

/// Every module loaded in the process, from the dynamic linker's list.
#[cfg(target_os = "linux")]
fn modules() -> Vec<Module> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid dl_phdr_info for the duration of the
        // call, and `data` is the Vec `modules` handed it, borrowed by nothing else.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<Module>>()) };
        // SAFETY: the loader's own record of a loaded module.
        out.push(unsafe { module(info) });
        0
    }
    let mut out: Vec<Module> = Vec::new();
    // SAFETY: `each` matches the callback type and only uses `data` as the Vec above,
    // which outlives the call (dl_iterate_phdr calls back synchronously).
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut out).cast()) };
    out
}

#[cfg(not(target_os = "linux"))]
fn modules() -> Vec<Module> {
    Vec::new()
}

/// One module from its loader record.
///
/// # Safety
/// `info` must describe a module loaded in this process (as `dl_iterate_phdr` gives).
#[cfg(target_os = "linux")]
unsafe fn module(info: &libc::dl_phdr_info) -> Module {
    let bias = wide(info.dlpi_addr);
    let phdrs = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: the loader's program headers of this module, dlpi_phnum of them.
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { core::ffi::CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    // The program itself has no name in the list.
    let path = if name.is_empty() {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    } else {
        name
    };
    let loads: Vec<(u64, u64)> = phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD)
        .map(|p| (wide(p.p_vaddr), wide(p.p_filesz)))
        .collect();
    let segments = phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0)
        .map(|p| Segment {
            start: bias.wrapping_add(wide(p.p_vaddr)),
            end: bias.wrapping_add(wide(p.p_vaddr) + wide(p.p_memsz)),
            file_offset: wide(p.p_offset),
        })
        .collect();
    let mut build_id = String::new();
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
        let (vaddr, len) = (wide(p.p_vaddr), wide(p.p_memsz));
        // Read only notes the loader mapped: inside a loaded segment's file bytes.
        let mapped = loads
            .iter()
            .any(|&(v, n)| v <= vaddr && vaddr.saturating_add(len) <= v.saturating_add(n));
        if !mapped || len == 0 {
            continue;
        }
        // SAFETY: the note segment lies inside a PT_LOAD segment of this loaded module
        // (checked above), so its bytes are mapped and readable for len bytes.
        let notes = unsafe {
            core::slice::from_raw_parts(bias.wrapping_add(vaddr) as *const u8, len as usize)
        };
        if let Some(id) = gnu_build_id(notes, wide(p.p_align)) {
            build_id = hex(id);
            break;
        }
    }
    Module {
        path,
        build_id,
        load_bias: bias,
        segments,
    }
}

/// An ELF address or size (32 or 64 bits, by target) as u64.
#[cfg(target_os = "linux")]
fn wide<T: Into<u64>>(v: T) -> u64 {
    v.into()
}

/// The descriptor of the `NT_GNU_BUILD_ID` note in a note segment (notes padded to
/// `align`: 4, or 8 in segments aligned so).
fn gnu_build_id(notes: &[u8], align: u64) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let pad = if align == 8 { 8 } else { 4 };
    let up = |n: usize| n.checked_add(pad - 1).map(|n| n & !(pad - 1));
    let word = |at: usize| -> Option<u32> {
        let b = notes.get(at..at.checked_add(4)?)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 0usize;
    while at.checked_add(12)? <= notes.len() {
        let namesz = word(at)? as usize;
        let descsz = word(at + 4)? as usize;
        let kind = word(at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(up(namesz)?)?;
        let next = desc_at.checked_add(up(descsz)?)?;
        let name = notes.get(name_at..name_at.checked_add(namesz)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc);
        }
        at = next;
    }
    None
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::sample::Sampled;

    #[test]
    fn trim_drops_spanprof_above_the_shim_and_the_runtime_below_main() {
        let names = [
            "backtrace::trace",
            "spanprof::profile::hooks::on_alloc",
            "__rustc::__rust_alloc",
            "alloc::alloc::alloc",
            "app::work",
            "app::main",
            "core::ops::function::FnOnce::call_once",
            "std::rt::lang_start",
            "main",
        ];
        assert_eq!(trim(&names, false, None), 3..6);
        // A cut stack does not reach main: nothing is taken from its bottom.
        assert_eq!(trim(&names[..5], true, None), 3..5);
        // No main: the runtime's frames and unresolved addresses go from the bottom.
        let names = [
            "__rust_alloc",
            "worker",
            "std::thread::spawn",
            "",
            "start_thread",
        ];
        assert_eq!(trim(&names, false, None), 1..2);
    }

    #[test]
    fn without_names_the_address_boundary_trims_and_unresolved_frames_stay() {
        // A stripped binary: nothing resolves but libc's frames at the bottom.
        let names = [
            "",
            "",
            "",
            "",
            "",
            "",
            "__libc_start_call_main",
            "__libc_start_main",
            "",
        ];
        // Three frames are spanprof's by address: the program's five stay.
        assert_eq!(trim(&names, false, Some(3)), 3..6);
        // With names, the shim decides, and spanprof's named frames past the
        // address boundary go too.
        let names = ["", "spanprof::alloc_slow", "__rust_alloc", "app::f", "main"];
        assert_eq!(trim(&names, false, Some(1)), 3..5);
        let names = ["", "spanprof::alloc_slow", "app::f", "main"];
        assert_eq!(trim(&names, false, Some(1)), 2..4);
        // Nothing is taken beyond the stack.
        assert_eq!(trim(&names, true, Some(9)), 4..4);
    }

    #[test]
    fn short_line_table_names_take_the_symbol_tables_full_path() {
        // This test binary's own symbol table names this function in full.
        let here = short_line_table_names_take_the_symbol_tables_full_path as *const () as usize;
        let mods = modules();
        let m = mods
            .iter()
            .find(|m| {
                m.segments
                    .iter()
                    .any(|s| s.start <= here as u64 && (here as u64) < s.end)
            })
            .expect("a module holds this function");
        let table = Symtab::read(&m.path).expect("the test binary has a symbol table");
        let name = table.name(here as u64 - m.load_bias + 1).unwrap();
        assert!(
            name.ends_with(
                "symbolize::tests::short_line_table_names_take_the_symbol_tables_full_path"
            ),
            "{name}"
        );
        // As line-tables-only debug info names it: the short name becomes the full one;
        // inlined lines are left alone.
        let mut resolved = HashMap::new();
        let line = |f: &str| Line {
            function: f.to_string(),
            file: Some("src/profile/symbolize.rs".to_string()),
            line: None,
            inlined: false,
        };
        let short = "short_line_table_names_take_the_symbol_tables_full_path";
        resolved.insert(
            here + 1,
            vec![
                Line {
                    inlined: true,
                    ..line("inner")
                },
                line(short),
            ],
        );
        qualify(&mut resolved, &mods);
        let lines = &resolved[&(here + 1)];
        assert_eq!(lines[0].function, "inner");
        assert_eq!(lines[1].function, name);
    }

    #[test]
    fn function_starts_come_from_the_unwinder_tables() {
        let f = own_frames as *const () as usize;
        assert_eq!(function_start(f + 1), Some(f));
        assert_eq!(function_start(f + 4), Some(f));
        assert_eq!(function_start(0), None);
    }

    #[test]
    fn build_ids_are_read_from_gnu_notes_only() {
        let mut notes = Vec::new();
        // An ABI tag note first, then the build ID.
        for (name, kind, desc) in [
            (
                &b"GNU\0"[..],
                1u32,
                &[0u8, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0][..],
            ),
            (b"GNU\0", 3, &[0xde, 0xad, 0xbe, 0xef, 0x01][..]),
        ] {
            notes.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&kind.to_ne_bytes());
            notes.extend_from_slice(name);
            notes.extend_from_slice(desc);
            while notes.len() % 4 != 0 {
                notes.push(0);
            }
        }
        let id = gnu_build_id(&notes, 4).unwrap();
        assert_eq!(hex(id), "deadbeef01");
        // Cut short anywhere: no ID, no panic.
        for n in 0..notes.len() - 8 {
            let _ = gnu_build_id(&notes[..n], 4);
        }
        assert_eq!(gnu_build_id(&notes[..notes.len() - 8], 4), None);
    }

    #[test]
    fn this_program_has_a_mapping_with_its_build_id() {
        let exe = std::env::current_exe().unwrap().display().to_string();
        let here = this_program_has_a_mapping_with_its_build_id as *const () as u64;
        let mods = modules();
        let m = mods
            .iter()
            .find(|m| m.segments.iter().any(|s| s.start <= here && here < s.end))
            .expect("a module holds this function");
        assert_eq!(m.path, exe);
        // Checked against readelf where it is installed.
        if let Ok(out) = std::process::Command::new("readelf")
            .args(["-n", &exe])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(line) = text.lines().find(|l| l.contains("Build ID:")) {
                assert_eq!(line.split_whitespace().last(), Some(m.build_id.as_str()));
            }
        }
    }

    fn line(f: &str) -> Line {
        Line {
            function: f.to_string(),
            file: None,
            line: None,
            inlined: false,
        }
    }

    #[test]
    fn stacks_are_interned_and_cut_stacks_end_in_the_marker() {
        // Addresses 1..: 1 is the shim, 2 allocates, 3 recurses, 4 is main.
        let mut resolved = HashMap::new();
        resolved.insert(1, vec![line("__rust_alloc")]);
        resolved.insert(2, vec![line("alloc::vec::Vec::new"), line("app::leaf")]);
        resolved.insert(3, vec![line("app::recurse")]);
        resolved.insert(4, vec![line("main")]);
        let mut b = Builder::new(Vec::new(), &resolved, 4);
        let short = SampledStack {
            ips: vec![1, 2, 3, 4],
            truncated: false,
        };
        let deep = SampledStack {
            ips: vec![1, 2, 3, 3, 3, 3, 3, 3],
            truncated: true,
        };
        let a = b.stack(&short);
        assert_eq!(b.stack(&short), a, "the same stack once");
        let d = b.stack(&deep);
        assert_ne!(a, d);
        let names = |b: &Builder<'_>, id: u32| -> Vec<String> {
            b.stacks[id as usize]
                .locations
                .iter()
                .map(|&l| {
                    let l = &b.locations[l as usize];
                    l.lines
                        .iter()
                        .map(|l| l.function.clone())
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect()
        };
        assert_eq!(
            names(&b, a),
            ["alloc::vec::Vec::new+app::leaf", "app::recurse", "main"]
        );
        // Four addresses kept (the limit), then the marker.
        assert_eq!(
            names(&b, d),
            [
                "alloc::vec::Vec::new+app::leaf",
                "app::recurse",
                "app::recurse",
                "app::recurse",
                TRUNCATED
            ]
        );
        // Each address is one location, shared by both stacks.
        assert_eq!(b.locations.len(), 4);
        // A stack longer than the limit after trimming is cut too.
        let long = SampledStack {
            ips: vec![1, 2, 3, 3, 3, 3, 4],
            truncated: false,
        };
        let l = b.stack(&long);
        assert_eq!(l, d);
    }

    #[test]
    fn records_of_one_trimmed_stack_and_size_are_one_sample() {
        let snap = Snapshot {
            stacks: vec![
                SampledStack {
                    ips: vec![],
                    truncated: false,
                },
                SampledStack {
                    ips: vec![],
                    truncated: false,
                },
            ],
            records: (0..4)
                .map(|i| Sampled {
                    stack: i % 2,
                    size: 16 << (i / 2),
                    rate: 1,
                    alloc_objects: 3,
                    alloc_bytes: 48 << (i / 2),
                    free_objects: 1,
                    free_bytes: 16 << (i / 2),
                    temporary_objects: 0,
                })
                .collect(),
            dropped: 0,
            max_frames: 128,
        };
        let s = symbolize(&snap);
        assert_eq!(s.stacks.len(), 1);
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.samples[0].alloc_objects, 6);
        assert_eq!(s.samples[0].inuse_objects_est, 4.0);
        assert_eq!(s.samples[1].size, 32);
    }
}
