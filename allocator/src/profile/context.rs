//! Contexts: site stacks interned as small integers.
//!
//! Entering a site while another is current makes a child context (parent, site);
//! each distinct stack gets one id, shared by all threads, so per-thread counters can
//! be plain arrays indexed by context and merged by index. Id 0 is "no site". The
//! table is fixed-size and off the Rust heap; stacks beyond its capacity are counted
//! under their deepest interned ancestor, and deeper than `MAX_DEPTH` under their
//! parent. Lookups go through a small per-thread memo, so the global lock is taken
//! once per (thread, new stack).

use core::cell::Cell;
use core::ptr;

use crate::lock::SpinLock;
use crate::os;
use crate::profile::site::Site;

/// Contexts the table holds (id 0 included).
pub const MAX_CTX: usize = 4096;
/// Site stacks deeper than this are counted in their parent context.
pub const MAX_DEPTH: u32 = 64;
const INDEX_LEN: usize = MAX_CTX * 2;

#[derive(Clone, Copy)]
struct Entry {
    parent: u32,
    depth: u32,
    site: *const Site,
}

struct Table {
    entries: *mut Entry,
    /// Open addressing: hash(parent, site) → id + 1 (0 = empty).
    index: *mut u32,
    len: usize,
}

// SAFETY: the pointers are process-wide mappings; access is under the lock.
unsafe impl Send for Table {}

static TABLE: SpinLock<Table> = SpinLock::new(Table {
    entries: ptr::null_mut(),
    index: ptr::null_mut(),
    len: 1,
});

thread_local! {
    /// (parent, site, child) of the last lookups, direct-mapped by hash.
    static MEMO: [Cell<(u32, usize, u32)>; 64] = const { [const { Cell::new((0, 0, 0)) }; 64] };
}

fn hash(parent: u32, site: usize) -> usize {
    let h = (site as u64 ^ (u64::from(parent) << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize
}

/// The context for `site` entered inside context `parent`.
pub fn child(parent: u32, site: &'static Site) -> u32 {
    let key = site.key();
    let h = hash(parent, key);
    let memo = MEMO.with(|m| m[h % 64].get());
    if memo.0 == parent && memo.1 == key && memo.2 != 0 {
        return memo.2;
    }
    let id = intern(parent, key, h);
    MEMO.with(|m| m[h % 64].set((parent, key, id)));
    id
}

fn intern(parent: u32, key: usize, h: usize) -> u32 {
    let mut t = TABLE.lock();
    if t.entries.is_null() {
        let e = os::map(MAX_CTX * core::mem::size_of::<Entry>());
        let i = os::map(INDEX_LEN * 4);
        match (e, i) {
            (Some(e), Some(i)) => {
                t.entries = e.as_ptr().cast();
                t.index = i.as_ptr().cast();
            }
            _ => return parent,
        }
    }
    let depth = if parent == 0 {
        1
    } else {
        get(&t, parent).map_or(1, |e| e.depth + 1)
    };
    if depth > MAX_DEPTH {
        return parent;
    }
    let mut slot = h % INDEX_LEN;
    loop {
        // SAFETY: slot < INDEX_LEN, the index mapping's length.
        let v = unsafe { *t.index.add(slot) };
        if v == 0 {
            break;
        }
        let id = v - 1;
        if let Some(e) = get(&t, id)
            && e.parent == parent
            && e.site as usize == key
        {
            return id;
        }
        slot = (slot + 1) % INDEX_LEN;
    }
    if t.len >= MAX_CTX {
        return parent;
    }
    let id = t.len as u32;
    // SAFETY: id < MAX_CTX and slot < INDEX_LEN: both inside their mappings.
    unsafe {
        *t.entries.add(id as usize) = Entry {
            parent,
            depth,
            site: key as *const Site,
        };
        *t.index.add(slot) = id + 1;
    }
    t.len += 1;
    id
}

fn get(t: &Table, id: u32) -> Option<Entry> {
    if id == 0 || id as usize >= t.len || t.entries.is_null() {
        return None;
    }
    // SAFETY: 0 < id < len ≤ MAX_CTX: a written entry.
    Some(unsafe { *t.entries.add(id as usize) })
}

/// Number of contexts interned so far (ids are `1..count()`).
pub fn count() -> usize {
    TABLE.lock().len
}

/// The innermost site of context `id` (`None` for 0). Allocates nothing.
pub fn innermost(id: u32) -> Option<&'static Site> {
    let t = TABLE.lock();
    // SAFETY: entries only ever hold addresses of `&'static Site`.
    get(&t, id).map(|e| unsafe { &*e.site })
}

/// The site stack of context `id`, outermost first (empty for 0).
pub fn stack(id: u32) -> Vec<&'static Site> {
    let t = TABLE.lock();
    let mut out = Vec::new();
    let mut cur = id;
    while let Some(e) = get(&t, cur) {
        // SAFETY: entries only ever hold addresses of `&'static Site`.
        out.push(unsafe { &*e.site });
        cur = e.parent;
    }
    out.reverse();
    out
}

/// Holds the lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    TABLE.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { TABLE.force_unlock() };
}
