//! A set of HTTP status codes as a bitmap: `Copy`, no allocation, one bit
//! test per lookup.

use http::StatusCode;

/// A set of status codes (100–611; others are never members), for
/// classifiers and retry predicates.
///
/// ```
/// use seawall::http::StatusSet;
/// use http::StatusCode;
///
/// let mut set = StatusSet::range(500, 599);
/// set.remove(StatusCode::NOT_IMPLEMENTED);
/// assert!(set.contains(StatusCode::BAD_GATEWAY));
/// assert!(!set.contains(StatusCode::NOT_IMPLEMENTED));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSet([u64; 8]);

const LO: u16 = 100;
const HI: u16 = LO + 8 * 64 - 1;

/// The bit of `status`, if the set can hold it.
#[inline]
fn bit(status: u16) -> Option<(usize, u64)> {
    let i = status.checked_sub(LO).filter(|_| status <= HI)? as usize;
    Some((i / 64, 1 << (i % 64)))
}

impl StatusSet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self([0; 8])
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
        for s in lo.max(LO)..=hi.min(HI) {
            if let Some((w, b)) = bit(s) {
                set.0[w] |= b;
            }
        }
        set
    }

    /// Adds `status`.
    pub fn insert(&mut self, status: StatusCode) {
        if let Some((w, b)) = bit(status.as_u16()) {
            self.0[w] |= b;
        }
    }

    /// Removes `status`.
    pub fn remove(&mut self, status: StatusCode) {
        if let Some((w, b)) = bit(status.as_u16()) {
            self.0[w] &= !b;
        }
    }

    /// Whether `status` is in the set.
    #[inline]
    pub fn contains(&self, status: StatusCode) -> bool {
        bit(status.as_u16()).is_some_and(|(w, b)| self.0[w] & b != 0)
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((LO..=HI).filter(|s| bit(*s).is_some_and(|(w, b)| self.0[w] & b != 0)))
            .finish()
    }
}
