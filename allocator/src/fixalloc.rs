//! Off-heap metadata allocators: fixed-size records carved from mmap'd chunks, as
//! Go's `fixalloc` serves `mspan` and `mcache` structures.
//!
//! Span records (owned by the page heap) and thread caches (owned by the cache
//! registry) come from a [`FixAlloc`], so the allocator never calls itself for its
//! own bookkeeping. Freed records go onto an intrusive free list and are reused;
//! chunks are never returned to the OS, which keeps every record address valid
//! forever (a racing reader of a recycled span record reads a valid, if different,
//! span). Records nobody reads after their free (the entry points' per-thread
//! records) come from a [`RecordPool`] instead, whose chunks go back to the OS once
//! every record in them is free, so a burst of threads leaves nothing behind. The
//! caller provides the locking.

use core::ptr::{self, NonNull};

use crate::os;

const CHUNK: usize = 256 * 1024;

/// Hands out records of one fixed size.
#[derive(Debug)]
pub struct FixAlloc {
    size: usize,
    free: *mut FreeRecord,
    chunk: usize,
    chunk_end: usize,
    /// Records currently handed out.
    pub in_use: usize,
    /// Bytes mapped for records.
    pub mapped: usize,
}

struct FreeRecord {
    next: *mut FreeRecord,
}

// SAFETY: the raw pointers refer to process-wide mappings; the owner locks.
unsafe impl Send for FixAlloc {}

impl FixAlloc {
    /// A pool of `size`-byte records (rounded up to 64 B so records never share a
    /// cache line).
    pub const fn new(size: usize) -> Self {
        let size = (size + 63) & !63;
        FixAlloc {
            size,
            free: ptr::null_mut(),
            chunk: 0,
            chunk_end: 0,
            in_use: 0,
            mapped: 0,
        }
    }

    /// A zeroed record, or `None` when the OS refuses memory.
    pub fn alloc(&mut self) -> Option<NonNull<u8>> {
        let p = if !self.free.is_null() {
            let rec = self.free;
            // SAFETY: records on the free list are ours and at least pointer-sized.
            self.free = unsafe { (*rec).next };
            // SAFETY: the record is `size` bytes, no longer in use by anyone.
            unsafe { ptr::write_bytes(rec.cast::<u8>(), 0, self.size) };
            rec.cast::<u8>()
        } else {
            if self.chunk + self.size > self.chunk_end {
                let len = CHUNK.max(self.size);
                let c = os::map(len)?;
                self.chunk = c.as_ptr() as usize;
                self.chunk_end = self.chunk + len;
                self.mapped += len;
            }
            let p = self.chunk as *mut u8;
            self.chunk += self.size;
            p
        };
        self.in_use += 1;
        NonNull::new(p)
    }

    /// Returns a record to the pool.
    ///
    /// # Safety
    /// `p` must come from this pool's `alloc` and not be used afterwards.
    pub unsafe fn free(&mut self, p: NonNull<u8>) {
        let rec = p.as_ptr().cast::<FreeRecord>();
        // SAFETY: the record is ours, at least pointer-sized and 64-aligned.
        unsafe { (*rec).next = self.free };
        self.free = rec;
        self.in_use -= 1;
    }
}

/// Chunk of a [`RecordPool`]: its own size and alignment, so a record finds its chunk
/// by masking.
const POOL_CHUNK: usize = 256 * 1024;
/// The chunk header's share of a chunk (records start after it).
const POOL_HEADER: usize = 64;

/// Fixed-size records in aligned chunks that are unmapped once all their records are
/// free (one empty chunk is kept, so a thread starting right after another exits does
/// not map again). A record must never be touched after its free.
#[derive(Debug)]
pub struct RecordPool {
    size: usize,
    /// Chunks with a free record, doubly linked.
    partial: *mut PoolChunk,
    /// An empty chunk kept for reuse, or null.
    spare: *mut PoolChunk,
    /// Records currently handed out.
    pub in_use: usize,
    /// Bytes mapped for records.
    pub mapped: usize,
}

#[repr(C)]
struct PoolChunk {
    free: *mut FreeRecord,
    /// Next never-used record.
    bump: usize,
    used: usize,
    next: *mut PoolChunk,
    prev: *mut PoolChunk,
    listed: bool,
}

// SAFETY: the raw pointers refer to process-wide mappings; the owner locks.
unsafe impl Send for RecordPool {}

impl RecordPool {
    /// A pool of `size`-byte records (rounded up to 64 B); `size` must leave room for
    /// at least one record in a chunk.
    pub const fn new(size: usize) -> Self {
        RecordPool {
            size: (size + 63) & !63,
            partial: ptr::null_mut(),
            spare: ptr::null_mut(),
            in_use: 0,
            mapped: 0,
        }
    }

    /// A zeroed record, or `None` when the OS refuses memory (or records do not fit).
    pub fn alloc(&mut self) -> Option<NonNull<u8>> {
        if self.size > POOL_CHUNK - POOL_HEADER {
            return None;
        }
        if self.partial.is_null() {
            let c = if self.spare.is_null() {
                self.map_chunk()?
            } else {
                core::mem::replace(&mut self.spare, ptr::null_mut())
            };
            self.list(c);
        }
        let c = self.partial;
        // SAFETY: listed chunks are live mappings of ours with a free record.
        let ch = unsafe { &mut *c };
        let p = if !ch.free.is_null() {
            let rec = ch.free;
            // SAFETY: records on a chunk's free list are ours, at least pointer-sized.
            ch.free = unsafe { (*rec).next };
            // SAFETY: the record is `size` bytes inside the chunk, used by nobody.
            unsafe { ptr::write_bytes(rec.cast::<u8>(), 0, self.size) };
            rec.cast::<u8>()
        } else {
            let p = ch.bump as *mut u8;
            ch.bump += self.size;
            p
        };
        ch.used += 1;
        if ch.free.is_null() && ch.bump + self.size > c as usize + POOL_CHUNK {
            self.unlist(c);
        }
        self.in_use += 1;
        NonNull::new(p)
    }

    /// Returns a record; its chunk goes back to the OS when it was the last one used.
    ///
    /// # Safety
    /// `p` must come from this pool's `alloc` and never be touched afterwards.
    pub unsafe fn free(&mut self, p: NonNull<u8>) {
        let c = (p.as_ptr() as usize & !(POOL_CHUNK - 1)) as *mut PoolChunk;
        // SAFETY: the record lies in a live chunk of ours, whose header starts it.
        let ch = unsafe { &mut *c };
        let rec = p.as_ptr().cast::<FreeRecord>();
        // SAFETY: the record is ours again, at least pointer-sized and 64-aligned.
        unsafe { (*rec).next = ch.free };
        ch.free = rec;
        ch.used -= 1;
        self.in_use -= 1;
        if !ch.listed {
            self.list(c);
        }
        if ch.used == 0 {
            self.unlist(c);
            if self.spare.is_null() {
                self.spare = c;
            } else {
                self.mapped -= POOL_CHUNK;
                // SAFETY: every record of the chunk is free and nobody touches them.
                unsafe { os::unmap(c.cast(), POOL_CHUNK) };
            }
        }
    }

    fn map_chunk(&mut self) -> Option<*mut PoolChunk> {
        let c = os::map_aligned(POOL_CHUNK, POOL_CHUNK)?
            .as_ptr()
            .cast::<PoolChunk>();
        self.mapped += POOL_CHUNK;
        // SAFETY: a fresh zeroed mapping; the header fits in its first bytes.
        unsafe { (*c).bump = c as usize + POOL_HEADER };
        Some(c)
    }

    fn list(&mut self, c: *mut PoolChunk) {
        // SAFETY: c is a live chunk of ours, on no list; the head is listed.
        unsafe {
            (*c).prev = ptr::null_mut();
            (*c).next = self.partial;
            (*c).listed = true;
            if !self.partial.is_null() {
                (*self.partial).prev = c;
            }
        }
        self.partial = c;
    }

    fn unlist(&mut self, c: *mut PoolChunk) {
        // SAFETY: c is listed; its neighbours are listed live chunks.
        unsafe {
            let (prev, next) = ((*c).prev, (*c).next);
            if prev.is_null() {
                self.partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*c).listed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_records_and_zeroes_them() {
        let mut fa = FixAlloc::new(100);
        let a = fa.alloc().unwrap();
        let b = fa.alloc().unwrap();
        assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 128);
        // SAFETY: a is a 128-byte record from fa.
        unsafe {
            a.as_ptr().write_bytes(0xAB, 128);
            fa.free(a);
        }
        let c = fa.alloc().unwrap();
        assert_eq!(c, a);
        // SAFETY: c is a live 128-byte record.
        let bytes = unsafe { core::slice::from_raw_parts(c.as_ptr(), 128) };
        assert!(bytes.iter().all(|&x| x == 0));
        assert_eq!(fa.in_use, 2);
        for _ in 0..5000 {
            fa.alloc().unwrap();
        }
        assert!(fa.mapped >= 5002 * 128);
    }

    #[test]
    fn record_pool_reuses_records_and_unmaps_empty_chunks() {
        let mut pool = RecordPool::new(5000);
        let recs: Vec<_> = (0..1000).map(|_| pool.alloc().unwrap()).collect();
        let mapped = pool.mapped;
        assert!(mapped >= 1000 * 5056);
        // SAFETY: each record is a live 5056-byte record of the pool.
        unsafe {
            recs[0].as_ptr().write_bytes(0xAB, 5056);
            pool.free(recs[0]);
        }
        let again = pool.alloc().unwrap();
        assert_eq!(again, recs[0], "a freed record is reused");
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(again.as_ptr(), 5056) };
        assert!(bytes.iter().all(|&x| x == 0));
        for r in recs.into_iter().skip(1).chain([again]) {
            // SAFETY: every record is freed once.
            unsafe { pool.free(r) };
        }
        assert_eq!(pool.in_use, 0);
        assert_eq!(
            pool.mapped, POOL_CHUNK,
            "one empty chunk is kept, the rest unmapped"
        );
        let r = pool.alloc().unwrap();
        assert_eq!(pool.mapped, POOL_CHUNK);
        // SAFETY: r is live.
        unsafe { pool.free(r) };
    }
}
