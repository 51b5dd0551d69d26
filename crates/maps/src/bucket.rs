//! A hash table's bucket ([`Bucket`]): the head of its chain behind a
//! reader-writer lock for writers and host reads, and a sequence count
//! that programs' lookups read instead of taking the lock.
//!
//! Programs on several cores look the same buckets up per packet, and
//! even an uncontended read lock writes its count (one cache line every
//! core then writes, and a dozen nanoseconds per lookup here). A lookup
//! instead reads the count, walks the chain without writing anything
//! shared, and retries if a writer changed the bucket meanwhile (the
//! count was odd, or moved), as `lpm` does for its trie. Writers keep the
//! count odd for as long as they hold the lock ([`ChainWrite`]).
//!
//! What a walk racing a writer may meet stays memory it may read: element
//! indices in chains are only ever those of backed slab elements, which
//! are never unmapped while the table lives, and their headers and keys
//! are written with atomic stores (a walk reads them atomically too).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering, fence};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One bucket of a hash table.
pub(crate) struct Bucket {
    /// The chain's head, as writers and host reads see it.
    lock: RwLock<u32>,
    /// The head as lock-free walks see it: the lock's, stored when a
    /// write ends.
    head: AtomicU32,
    /// Odd while a writer holds the lock.
    seq: AtomicU32,
}

/// A writer's hold on a bucket: dereferences to the chain's head. The
/// count turns even again, after the head is published, when it drops.
pub(crate) struct ChainWrite<'b> {
    guard: RwLockWriteGuard<'b, u32>,
    bucket: &'b Bucket,
}

impl Bucket {
    /// An empty bucket (`nil` is the end-of-chain index).
    pub(crate) fn new(nil: u32) -> Bucket {
        Bucket {
            lock: RwLock::new(nil),
            head: AtomicU32::new(nil),
            seq: AtomicU32::new(0),
        }
    }

    /// A read lock, for the host's reads (which copy values out).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, u32> {
        self.lock.read()
    }

    /// The write lock.
    pub(crate) fn write(&self) -> ChainWrite<'_> {
        self.begin(self.lock.write())
    }

    /// The write lock, if no one holds the lock.
    pub(crate) fn try_write(&self) -> Option<ChainWrite<'_>> {
        self.lock.try_write().map(|guard| self.begin(guard))
    }

    fn begin<'b>(&'b self, guard: RwLockWriteGuard<'b, u32>) -> ChainWrite<'b> {
        self.seq.fetch_add(1, Ordering::Relaxed);
        // Walks that see anything the writer stores after this see the odd count.
        fence(Ordering::Release);
        ChainWrite {
            guard,
            bucket: self,
        }
    }

    /// `walk(head)` on a consistent chain: repeated while a writer changes
    /// the bucket. `walk` must only read (atomically) and stop by itself
    /// on any chain, even one a writer is relinking.
    pub(crate) fn walk<T>(&self, walk: impl Fn(u32) -> T) -> T {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let found = walk(self.head.load(Ordering::Relaxed));
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return found;
                }
            }
            std::hint::spin_loop();
        }
    }
}

impl Deref for ChainWrite<'_> {
    type Target = u32;
    fn deref(&self) -> &u32 {
        &self.guard
    }
}

impl DerefMut for ChainWrite<'_> {
    fn deref_mut(&mut self) -> &mut u32 {
        &mut self.guard
    }
}

impl Drop for ChainWrite<'_> {
    fn drop(&mut self) {
        self.bucket.head.store(*self.guard, Ordering::Relaxed);
        self.bucket.seq.fetch_add(1, Ordering::Release);
    }
}
