//! `spanprof symbolize`: names the addresses a profile could not resolve when it was
//! written (a stripped binary, a library without symbols), from an unstripped copy
//! of the binary or a separate debug file, then trims the stacks again as the
//! runtime would have with names.
//!
//! Each mapping with unresolved locations is matched by its GNU build ID (or, for a
//! module without one, by file name) to a `--binary` file or to a debug file in the
//! usual places: `/usr/lib/debug/.build-id/xx/yyyy.debug`, then debuginfod's cache
//! (`$DEBUGINFOD_CACHE_PATH`, else `$XDG_CACHE_HOME/debuginfod_client`, else
//! `~/.cache/debuginfod_client`: `<build-id>/debuginfo`). A location's `offset` is
//! its address in the file: DWARF line tables (through `addr2line`) give its
//! functions, inlined ones first, with file and line; the ELF symbol table gives the
//! full name of the outermost one where the line tables have a short name only
//! (line-tables-only debug info), and the name when there are no line tables.

use crate::output::{CliError, Result};
use addr2line::gimli;
use object::{Object, ObjectSection};
use spanprof::Profile;
use spanprof::format::{Line, Location, Sample, Stack, TRUNCATED, qualified_name};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What was done, for the summary line.
#[derive(Debug, Default)]
pub struct Summary {
    /// Locations that had no lines before.
    pub unresolved: usize,
    /// Of those, how many have lines now.
    pub resolved: usize,
    /// The files that named them.
    pub used: Vec<PathBuf>,
}

/// A binary or debug file read for symbols.
struct Symbols {
    path: PathBuf,
    build_id: String,
    data: Vec<u8>,
}

impl Symbols {
    fn read(path: &Path) -> Result<Symbols> {
        let shown = path.display();
        let data = std::fs::read(path).map_err(|e| {
            let problem = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ if path.is_dir() => "is a directory, not a binary".to_string(),
                _ => format!("cannot read: {e}"),
            };
            CliError::new(&shown, problem)
        })?;
        let file = object::File::parse(&*data)
            .map_err(|e| CliError::new(&shown, format!("not an ELF file: {e}")))?;
        let build_id = match file.build_id() {
            Ok(Some(id)) => hex(id),
            _ => String::new(),
        };
        Ok(Symbols {
            path: path.to_path_buf(),
            build_id,
            data,
        })
    }
}

/// Fills in the lines of `p`'s unresolved locations from `binaries` and the debug
/// folders, and trims its stacks again. An error when a `--binary` cannot be read or
/// matches no mapping of the profile.
pub fn symbolize(p: &mut Profile, file: &str, binaries: &[PathBuf]) -> Result<Summary> {
    let mut summary = Summary::default();
    let given: Vec<Symbols> = binaries
        .iter()
        .map(|b| Symbols::read(b))
        .collect::<Result<_>>()?;
    for s in &given {
        let matches = p.mappings.iter().any(|m| matches(m, s));
        if !matches {
            let ids: Vec<String> = p
                .mappings
                .iter()
                .map(|m| format!("{} {}", file_name(&m.path), shown_id(&m.build_id)))
                .collect();
            return Err(CliError::new(
                s.path.display(),
                format!(
                    "build ID {} matches no module of {file} (its modules: {})",
                    shown_id(&s.build_id),
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                ),
            ));
        }
    }
    // The locations to name, by mapping.
    let mut wanted: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, l) in p.locations.iter().enumerate() {
        if l.lines.is_empty()
            && let Some(m) = l.mapping
            && (m as usize) < p.mappings.len()
        {
            wanted.entry(m).or_default().push(i);
            summary.unresolved += 1;
        }
    }
    let mut found: HashMap<PathBuf, Symbols> = HashMap::new();
    let mut mapping_ids: Vec<u32> = wanted.keys().copied().collect();
    mapping_ids.sort_unstable();
    for m in mapping_ids {
        let mapping = &p.mappings[m as usize];
        let source = given
            .iter()
            .find(|s| matches(mapping, s))
            .map(|s| s.path.clone())
            .or_else(|| {
                debug_file_candidates(&mapping.build_id)
                    .into_iter()
                    .find(|c| c.is_file())
            });
        let Some(path) = source else { continue };
        if !found.contains_key(&path) {
            // A debug file found by build ID that cannot be read is skipped, as
            // debuggers do; a named one was read above.
            match given.iter().find(|s| s.path == path) {
                Some(_) => {}
                None => match Symbols::read(&path) {
                    Ok(s) if s.build_id == mapping.build_id => {
                        found.insert(path.clone(), s);
                    }
                    _ => continue,
                },
            }
        }
        let symbols = given
            .iter()
            .find(|s| s.path == path)
            .or_else(|| found.get(&path));
        let Some(symbols) = symbols else { continue };
        let names = Namer::new(symbols)?;
        let mut any = false;
        for &i in &wanted[&m] {
            let lines = names.lines(p.locations[i].offset);
            if !lines.is_empty() {
                p.locations[i].lines = lines;
                summary.resolved += 1;
                any = true;
            }
        }
        if any && !summary.used.contains(&path) {
            summary.used.push(path);
        }
    }
    retrim(p);
    Ok(summary)
}

/// `PROFILE` with `.symbolized` before its extension: `heap.json` → `heap.symbolized.json`.
pub fn default_output(profile: &Path) -> PathBuf {
    let stem = profile
        .file_stem()
        .map_or_else(|| "profile".into(), |s| s.to_string_lossy().into_owned());
    let name = match profile.extension() {
        Some(ext) => format!("{stem}.symbolized.{}", ext.to_string_lossy()),
        None => format!("{stem}.symbolized"),
    };
    profile.with_file_name(name)
}

/// The line said on stderr when done.
pub fn summary_line(s: &Summary, output: &Path) -> String {
    let from = if s.used.is_empty() {
        String::new()
    } else {
        let files: Vec<String> = s.used.iter().map(|p| p.display().to_string()).collect();
        format!(" from {}", files.join(", "))
    };
    let to = if output.as_os_str() == "-" {
        "stdout".to_string()
    } else {
        output.display().to_string()
    };
    format!(
        "spanprof: named {} of {} unresolved locations{from}; wrote {to}",
        s.resolved, s.unresolved
    )
}

fn matches(m: &spanprof::format::Mapping, s: &Symbols) -> bool {
    if m.build_id.is_empty() || s.build_id.is_empty() {
        // No build ID to compare: the same file name.
        return m.build_id == s.build_id
            && s.path.file_name().map(|n| n.to_string_lossy().into_owned())
                == Some(file_name(&m.path).to_string());
    }
    m.build_id == s.build_id
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn shown_id(id: &str) -> &str {
    if id.is_empty() { "(none)" } else { id }
}

/// Where debuggers look for the debug file of build ID `id`.
fn debug_file_candidates(id: &str) -> Vec<PathBuf> {
    if id.len() < 3 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Vec::new();
    }
    let mut out = vec![PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ))];
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = env("DEBUGINFOD_CACHE_PATH")
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("debuginfod_client")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/debuginfod_client")));
    if let Some(cache) = cache {
        out.push(cache.join(id).join("debuginfo"));
    }
    out
}

/// Names addresses of one file: its line tables and its symbol table.
struct Namer<'a> {
    dwarf: Option<addr2line::Context<gimli::EndianSlice<'a, gimli::RunTimeEndian>>>,
    symtab: object::SymbolMap<object::SymbolMapName<'a>>,
}

/// Keeps the uncompressed sections alive for as long as the `Namer` borrows them.
type Sections<'a> = gimli::DwarfSections<Cow<'a, [u8]>>;

impl<'a> Namer<'a> {
    fn new(s: &'a Symbols) -> Result<Namer<'a>> {
        let shown = s.path.display();
        let file = object::File::parse(&*s.data)
            .map_err(|e| CliError::new(&shown, format!("not an ELF file: {e}")))?;
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let symtab = file.symbol_map();
        let has_dwarf = file.section_by_name(".debug_info").is_some();
        if !has_dwarf && symtab.symbols().is_empty() {
            return Err(CliError::new(
                &shown,
                "has no debug info and no symbol table (stripped too)",
            ));
        }
        let dwarf =
            if has_dwarf {
                let sections: Sections<'a> =
                    gimli::DwarfSections::load(|id| match file.section_by_name(id.name()) {
                        Some(sec) => sec.uncompressed_data().map_err(|e| {
                            CliError::new(&shown, format!("cannot read {}: {e}", id.name()))
                        }),
                        None => Ok(Cow::Borrowed(&[][..])),
                    })?;
                // The sections must outlive the context that borrows them: leaked once per
                // file for the life of this short command.
                let sections: &'a Sections<'a> = Box::leak(Box::new(sections));
                let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
                Some(addr2line::Context::from_dwarf(dwarf).map_err(|e| {
                    CliError::new(&shown, format!("cannot read its debug info: {e}"))
                })?)
            } else {
                None
            };
        Ok(Namer { dwarf, symtab })
    }

    /// The functions at return address `offset` (an address in the file), innermost
    /// first; empty when nothing names it.
    fn lines(&self, offset: u64) -> Vec<Line> {
        // A return address: look up the call before it.
        let probe = offset.saturating_sub(1);
        let symbol = self
            .symtab
            .containing(probe)
            .map(|s| demangle(s.name()))
            .filter(|n| !n.is_empty());
        let mut out = Vec::new();
        if let Some(ctx) = &self.dwarf
            && let Ok(mut frames) = ctx.find_frames(probe).skip_all_loads()
        {
            while let Ok(Some(frame)) = frames.next() {
                let function = frame
                    .function
                    .as_ref()
                    .and_then(|f| f.raw_name().ok())
                    .map(|n| demangle(&n))
                    .unwrap_or_default();
                let (file, line) = match frame.location {
                    Some(l) => (l.file.map(str::to_string), l.line),
                    None => (None, None),
                };
                out.push(Line {
                    function,
                    file,
                    line,
                    inlined: true,
                });
            }
        }
        match out.last_mut() {
            Some(last) => {
                last.inlined = false;
                last.function = qualified_name(&last.function, symbol.as_deref());
            }
            None => {
                if let Some(name) = symbol {
                    out.push(Line {
                        function: name,
                        file: None,
                        line: None,
                        inlined: false,
                    });
                }
            }
        }
        out
    }
}

/// A Rust (legacy or v0) symbol demangled without its hash; other names as they are.
fn demangle(raw: &str) -> String {
    match rustc_demangle::try_demangle(raw) {
        Ok(d) => format!("{d:#}"),
        Err(_) => raw.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Trims every stack again now that more of it has names (as the runtime trims:
/// spanprof's frames at the top, the runtime's below `main`), and interns the result:
/// a location keeping only some of its lines becomes a location of its own, equal
/// stacks become one, and samples of one stack, size and rate one sample.
fn retrim(p: &mut Profile) {
    let old_locations = std::mem::take(&mut p.locations);
    let old_stacks = std::mem::take(&mut p.stacks);
    let mut location_ids: HashMap<(u32, usize, usize), u32> = HashMap::new();
    let mut stack_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut new_stack_of: Vec<u32> = Vec::with_capacity(old_stacks.len());
    let mut intern_location = |p: &mut Profile, id: u32, lo: usize, hi: usize| -> u32 {
        *location_ids.entry((id, lo, hi)).or_insert_with(|| {
            let old = &old_locations[id as usize];
            let hi = hi.min(old.lines.len()).max(lo.min(old.lines.len()));
            let lo = lo.min(hi);
            p.locations.push(Location {
                lines: old.lines[lo..hi].to_vec(),
                ..old.clone()
            });
            p.locations.len() as u32 - 1
        })
    };
    for stack in &old_stacks {
        let ids: Vec<u32> = stack
            .locations
            .iter()
            .copied()
            .filter(|&l| (l as usize) < old_locations.len())
            .collect();
        let is_marker = |l: u32| {
            let loc = &old_locations[l as usize];
            loc.address == 0
                && loc.mapping.is_none()
                && loc.lines.len() == 1
                && loc.lines[0].function == TRUNCATED
        };
        let truncated = ids.last().is_some_and(|&l| is_marker(l));
        let body = if truncated {
            &ids[..ids.len() - 1]
        } else {
            &ids[..]
        };
        // One frame per line (one for an unresolved location): (location, line).
        let mut frames: Vec<(u32, usize)> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for &l in body {
            let loc = &old_locations[l as usize];
            if loc.lines.is_empty() {
                frames.push((l, 0));
                names.push("");
            }
            for (j, line) in loc.lines.iter().enumerate() {
                frames.push((l, j));
                names.push(&line.function);
            }
        }
        let kept = &frames[spanprof::format::trim_stack(&names, truncated)];
        let mut new_ids: Vec<u32> = Vec::new();
        let mut k = 0;
        while k < kept.len() {
            let (l, lo) = kept[k];
            let mut hi = lo + 1;
            k += 1;
            // The same location twice in a row (recursion) stays two frames: group
            // only lines that follow one another.
            while k < kept.len() && kept[k].0 == l && kept[k].1 == hi {
                hi += 1;
                k += 1;
            }
            new_ids.push(intern_location(p, l, lo, hi));
        }
        if truncated && let Some(&marker) = ids.last() {
            let n = old_locations[marker as usize].lines.len();
            new_ids.push(intern_location(p, marker, 0, n));
        }
        let next = p.stacks.len() as u32;
        let id = *stack_ids.entry(new_ids.clone()).or_insert_with(|| {
            p.stacks.push(Stack { locations: new_ids });
            next
        });
        new_stack_of.push(id);
    }
    let old_samples = std::mem::take(&mut p.samples);
    let mut sample_ids: HashMap<(u32, u64, u64), usize> = HashMap::new();
    for s in old_samples {
        let Some(&stack) = new_stack_of.get(s.stack as usize) else {
            continue;
        };
        match sample_ids.get(&(stack, s.size, s.rate)) {
            Some(&i) => {
                let t: &mut Sample = &mut p.samples[i];
                t.alloc_objects += s.alloc_objects;
                t.alloc_bytes += s.alloc_bytes;
                t.free_objects += s.free_objects;
                t.free_bytes += s.free_bytes;
                t.alloc_objects_est += s.alloc_objects_est;
                t.alloc_bytes_est += s.alloc_bytes_est;
                t.inuse_objects_est += s.inuse_objects_est;
                t.inuse_bytes_est += s.inuse_bytes_est;
            }
            None => {
                sample_ids.insert((stack, s.size, s.rate), p.samples.len());
                p.samples.push(Sample { stack, ..s });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_dwarf_names_take_the_symbol_tables_full_path() {
        let q = qualified_name;
        assert_eq!(q("build", Some("app::parser::build")), "app::parser::build");
        assert_eq!(
            q(
                "collect<core::ops::Range<usize>>",
                Some("core::iter::Iterator::collect")
            ),
            "core::iter::Iterator::collect"
        );
        // A qualified name from the line tables stays.
        assert_eq!(
            q("<app::P as app::T>::build", Some("app::x::build")),
            "<app::P as app::T>::build"
        );
        // A symbol of another function is not used.
        assert_eq!(q("build", Some("app::render")), "build");
        assert_eq!(q("", Some("app::f")), "app::f");
        assert_eq!(q("f", None), "f");
    }

    fn loc(address: u64, names: &[&str]) -> Location {
        let n = names.len();
        Location {
            address,
            mapping: None,
            offset: address,
            lines: names
                .iter()
                .enumerate()
                .map(|(i, f)| Line {
                    function: f.to_string(),
                    file: None,
                    line: None,
                    inlined: i + 1 < n,
                })
                .collect(),
        }
    }

    #[test]
    fn named_stacks_are_trimmed_again_and_interned() {
        let mut p = Profile {
            locations: vec![
                loc(1, &["__rustc::__rust_alloc"]),
                loc(2, &["alloc::alloc::alloc", "app::leaf"]),
                loc(3, &["app::main"]),
                loc(4, &["__rust_alloc"]),
                loc(0, &[TRUNCATED]),
                loc(5, &["std::rt::lang_start"]),
            ],
            stacks: vec![
                Stack {
                    locations: vec![0, 1, 2, 5],
                },
                Stack {
                    locations: vec![3, 1, 2],
                },
                Stack {
                    locations: vec![0, 1, 1, 4],
                },
            ],
            ..Profile::default()
        };
        for (stack, n) in [(0, 2), (1, 3), (2, 5)] {
            p.samples.push(Sample {
                stack,
                size: 16,
                rate: 1,
                alloc_objects: n,
                alloc_bytes: 16 * n,
                alloc_objects_est: n as f64,
                ..Sample::default()
            });
        }
        retrim(&mut p);
        let names = |p: &Profile, s: u32| -> Vec<String> {
            p.frames(s).map(|f| f.name().into_owned()).collect()
        };
        // The shim goes, everything below main goes; the two stacks that differed
        // only in their shim frame are one, and so are their samples.
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(
            names(&p, 0),
            ["alloc::alloc::alloc", "app::leaf", "app::main"]
        );
        // A cut stack keeps its marker at the root, and recursion stays two frames.
        assert_eq!(
            names(&p, 1),
            [
                "alloc::alloc::alloc",
                "app::leaf",
                "alloc::alloc::alloc",
                "app::leaf",
                TRUNCATED
            ]
        );
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].alloc_objects, 5);
        assert_eq!(p.samples[0].alloc_objects_est, 5.0);
        assert_eq!(p.samples[1].alloc_objects, 5);
        // Only the locations the stacks use are left.
        assert_eq!(p.locations.len(), 3);
    }

    #[test]
    fn debug_files_are_looked_for_by_build_id() {
        let c = debug_file_candidates("abcdef12");
        assert_eq!(c[0], Path::new("/usr/lib/debug/.build-id/ab/cdef12.debug"));
        assert!(c[1].ends_with("abcdef12/debuginfo"));
        assert!(debug_file_candidates("").is_empty());
        assert!(debug_file_candidates("../../etc").is_empty());
    }
}
