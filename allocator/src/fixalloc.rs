//! Off-heap metadata allocator: fixed-size records carved from mmap'd chunks, as
//! Go's `fixalloc` serves `mspan` and `mcache` structures.
//!
//! Span records (owned by the page heap) and thread caches (owned by the cache
//! registry) come from here, so the allocator never calls itself for its own
//! bookkeeping. Freed records go onto an intrusive free list and are reused; chunks
//! are never returned to the OS, which keeps every record address valid forever (a
//! racing reader of a recycled span record reads a valid, if different, span). The
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
}
