//! A set of HTTP status codes as a bitmap: `Copy`, no allocation, one bit
//! test per lookup.

use http::StatusCode;

/// A set of status codes (100–639), for classifiers and retry predicates.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSet([u64; 10]);

impl StatusSet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self([0; 10])
    }

    /// The set of `statuses`.
    pub fn of(statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        let mut set = Self::empty();
        for s in statuses {
            set.insert(s);
        }
        set
    }

    /// Every status in `lo..=hi` (e.g. 500..=599).
    pub fn range(lo: u16, hi: u16) -> Self {
        let mut set = Self::empty();
        for s in lo.max(100)..=hi.min(639) {
            set.0[s as usize / 64] |= 1 << (s % 64);
        }
        set
    }

    /// Adds `status`.
    pub fn insert(&mut self, status: StatusCode) {
        let s = status.as_u16() as usize;
        self.0[s / 64] |= 1 << (s % 64);
    }

    /// Removes `status`.
    pub fn remove(&mut self, status: StatusCode) {
        let s = status.as_u16() as usize;
        self.0[s / 64] &= !(1 << (s % 64));
    }

    /// Whether `status` is in the set.
    #[inline]
    pub fn contains(&self, status: StatusCode) -> bool {
        let s = status.as_u16() as usize;
        self.0[s / 64] & (1 << (s % 64)) != 0
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((100u16..640).filter(|s| self.0[*s as usize / 64] & (1 << (s % 64)) != 0))
            .finish()
    }
}
