//! A shard's key table: open addressing with linear probing over entries
//! stored inline (hash, key and state side by side).
//!
//! Why not a SwissTable (`hashbrown`, what governor's `DashMap` uses): there
//! a lookup reads a control-byte group and then, elsewhere in memory, the
//! bucket it points to — two cache misses once the table outgrows the
//! cache. Here the probe starts at the entry itself, and at a load of at
//! most 5/8 the key is found in the first or second slot on average
//! (linear probing: `(1 + 1/(1-α)) / 2` slots for a hit), so a lookup of a
//! `u64` key (24-byte entries) usually reads one cache line.
//!
//! A table never fills (it doubles past the load bound), so every probe
//! ends at an empty slot. Removal happens only in [`Table::retain`], which
//! rebuilds the table from the survivors (eviction is periodic and already
//! visits every slot), so no tombstones are needed.

use crate::sync::AtomicU64;
use std::num::NonZeroU64;

/// One key: its hash (never 0, so an empty slot costs no extra byte), the
/// key, and its whole limiter state.
pub(crate) struct Entry<K> {
    hash: NonZeroU64,
    pub(crate) key: K,
    pub(crate) cell: AtomicU64,
}

/// Linear-probing table of [`Entry`]s; capacity 0 or a power of two ≥ 8.
pub(crate) struct Table<K> {
    slots: Box<[Option<Entry<K>>]>,
    len: usize,
}

const MIN_CAPACITY: usize = 8;

/// The stored form of a hash: never 0.
#[inline]
fn tag(hash: u64) -> NonZeroU64 {
    NonZeroU64::MIN | hash
}

impl<K> Table<K> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Box::new([]),
            len: 0,
        }
    }

    /// Where `hash`'s probe starts: the high bits of a multiplicative remix
    /// (Fibonacci hashing), so hashes that differ only in high bits, or
    /// weak user hashers, still spread. The shard is chosen from the top 6
    /// bits of the same product, so those are skipped here.
    #[inline]
    fn home(&self, hash: NonZeroU64) -> usize {
        let mixed = hash.get().wrapping_mul(0x9E37_79B9_7F4A_7C15) << 6;
        // capacity = 2^bits; the top `bits` bits of `mixed`.
        (mixed >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The state of `key`, if present.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &K) -> Option<&AtomicU64>
    where
        K: Eq,
    {
        if self.slots.is_empty() {
            return None;
        }
        let hash = tag(hash);
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.hash == hash && e.key == *key => return Some(&e.cell),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `key` (which must not be present) with a fresh state of 0.
    pub(crate) fn insert(&mut self, hash: u64, key: K) {
        // Keep the load at most 5/8: probes stay short and always end.
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.resize((self.slots.len() * 2).max(MIN_CAPACITY));
        }
        self.place(Entry {
            hash: tag(hash),
            key,
            cell: AtomicU64::new(0),
        });
        self.len += 1;
    }

    /// Puts `entry` in the first empty slot of its probe.
    fn place(&mut self, entry: Entry<K>) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(entry.hash);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(entry);
    }

    /// Rebuilds the table at `capacity` (0, or a power of two holding every
    /// entry under the load bound).
    fn resize(&mut self, capacity: usize) {
        let new = (0..capacity).map(|_| None).collect();
        let old = std::mem::replace(&mut self.slots, new);
        for entry in old.into_vec().into_iter().flatten() {
            self.place(entry);
        }
    }

    /// Keeps the entries `keep` accepts; returns how many were removed. A
    /// table that lost entries is rebuilt at a load between 1/4 and 1/2
    /// (empty: no memory at all), so evicting keys gives memory back.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry<K>) -> bool) -> usize {
        let mut removed = 0;
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|e| !keep(e)) {
                *slot = None;
                removed += 1;
            }
        }
        if removed > 0 {
            self.len -= removed;
            let capacity = match self.len {
                0 => 0,
                n => (n * 2).next_power_of_two().max(MIN_CAPACITY),
            };
            self.resize(capacity);
        }
        removed
    }

    /// Every entry.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<K>> {
        self.slots.iter().flatten()
    }

    /// Slots allocated (empty ones included).
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes one slot takes.
    pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Option<Entry<K>>>();
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn an_entry_slot_costs_no_more_than_the_entry() {
        assert_eq!(Table::<u64>::SLOT_BYTES, 24);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Find(u16),
        // Removes the keys whose value is divisible by this.
        Retain(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u16>().prop_map(Op::Insert),
            4 => any::<u16>().prop_map(Op::Find),
            1 => (2u16..8).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// The table agrees with a `HashMap` under inserts, lookups and
        /// removals, with a hash so weak that keys collide in groups
        /// (probes run long and wrap around the end).
        #[test]
        fn matches_a_hash_map(ops in prop::collection::vec(op(), 1..400)) {
            let weak = |k: u16| u64::from(k % 37);
            let mut table = Table::new();
            let mut model: HashMap<u16, u64> = HashMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(k) => {
                        if table.find(weak(k), &k).is_none() {
                            table.insert(weak(k), k);
                            model.insert(k, 0);
                        }
                        let cell = table.find(weak(k), &k).unwrap();
                        cell.store(step as u64, Ordering::Relaxed);
                        model.insert(k, step as u64);
                    }
                    Op::Find(k) => {
                        let found = table.find(weak(k), &k).map(|c| c.load(Ordering::Relaxed));
                        prop_assert_eq!(found, model.get(&k).copied());
                    }
                    Op::Retain(d) => {
                        let removed = table.retain(|e| e.key % d != 0);
                        let before = model.len();
                        model.retain(|k, _| k % d != 0);
                        prop_assert_eq!(removed, before - model.len());
                    }
                }
                prop_assert_eq!(table.len, model.len());
                prop_assert_eq!(table.iter().count(), model.len());
                // The load bound holds, so every probe ends.
                prop_assert!(table.len * 8 <= table.capacity() * 5);
            }
            for (k, v) in &model {
                prop_assert_eq!(table.find(weak(*k), k).map(|c| c.load(Ordering::Relaxed)), Some(*v));
            }
        }
    }

    #[test]
    fn evicting_everything_frees_the_slots() {
        let mut table = Table::new();
        for k in 0..1000u64 {
            table.insert(k.wrapping_mul(0x2545_F491_4F6C_DD1D), k);
        }
        assert_eq!(table.capacity(), 2048);
        assert_eq!(table.retain(|e| e.key < 10), 990);
        assert_eq!(table.capacity(), 32);
        assert_eq!(table.retain(|_| false), 10);
        assert_eq!(table.capacity(), 0);
        assert!(table.find(3, &3).is_none());
    }
}
