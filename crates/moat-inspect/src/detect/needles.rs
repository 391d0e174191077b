//! Many needles, one pass: an ASCII case-insensitive multi-needle search
//! for the detectors' word lists.
//!
//! Each needle is indexed under one *anchor* byte, the rarest of its bytes
//! in ordinary text (punctuation before rare letters before common ones).
//! The haystack is scanned once; only at an anchor byte are the needles
//! anchored there compared. Most bytes of ordinary text anchor nothing, so
//! a search costs about one table look-up per byte instead of one pass
//! per needle. Linear in the haystack times the (short, constant) needles
//! sharing an anchor.

use super::traversal::text::starts_with_ci;

/// A set of lower-case needles, searched case-insensitively.
pub(in crate::detect) struct Needles {
    needles: &'static [&'static [u8]],
    /// Per byte value: the range of `entries` anchored at that byte.
    slots: [(u16, u16); 256],
    /// (needle index, offset of the anchor in the needle).
    entries: Vec<(u16, u16)>,
}

/// How common a byte is in ordinary text (higher: more common): a table,
/// since searches look it up for every byte of every needle.
pub(in crate::detect) fn commonness(b: u8) -> u32 {
    u32::from(COMMONNESS[usize::from(b)])
}

const COMMONNESS: [u8; 256] = {
    const LETTERS: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";
    let mut t = [5u8; 256];
    let mut rank = 0;
    while rank < LETTERS.len() {
        t[LETTERS[rank] as usize] = 60 - rank as u8;
        rank += 1;
    }
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = 30;
        d += 1;
    }
    t[b' ' as usize] = 100;
    t[b'.' as usize] = 25;
    t[b',' as usize] = 25;
    t[b'-' as usize] = 15;
    t[b'\'' as usize] = 15;
    t
};

impl Needles {
    /// Indexes `needles` (lower case; empty ones never match).
    pub(in crate::detect) fn new(needles: &'static [&'static [u8]]) -> Self {
        let mut by_byte: Vec<Vec<(u16, u16)>> = vec![Vec::new(); 256];
        for (idx, n) in needles.iter().enumerate() {
            let Some((off, &b)) = n
                .iter()
                .enumerate()
                .min_by_key(|&(_, &b)| commonness(b.to_ascii_lowercase()))
            else {
                continue;
            };
            let entry = (idx as u16, off as u16);
            let lower = b.to_ascii_lowercase();
            by_byte[usize::from(lower)].push(entry);
            let upper = lower.to_ascii_uppercase();
            if upper != lower {
                by_byte[usize::from(upper)].push(entry);
            }
        }
        let mut slots = [(0u16, 0u16); 256];
        let mut entries = Vec::new();
        for (b, list) in by_byte.into_iter().enumerate() {
            slots[b] = (entries.len() as u16, list.len() as u16);
            entries.extend(list);
        }
        Self {
            needles,
            slots,
            entries,
        }
    }

    /// The needles.
    pub(in crate::detect) fn needles(&self) -> &'static [&'static [u8]] {
        self.needles
    }

    /// Calls `f(needle index, start)` for every occurrence of every needle
    /// in `hay`, in the order of their anchors (so in order of start for
    /// any one needle), until `f` returns `false`.
    pub(in crate::detect) fn each(&self, hay: &[u8], mut f: impl FnMut(usize, usize) -> bool) {
        for (i, &b) in hay.iter().enumerate() {
            let (start, len) = self.slots[usize::from(b)];
            if len == 0 {
                continue;
            }
            let from = usize::from(start);
            for &(idx, off) in &self.entries[from..from + usize::from(len)] {
                let (idx, off) = (usize::from(idx), usize::from(off));
                if i >= off && starts_with_ci(hay, i - off, self.needles[idx]) && !f(idx, i - off) {
                    return;
                }
            }
        }
    }

    /// Whether any needle occurs in `hay`.
    pub(in crate::detect) fn any(&self, hay: &[u8]) -> bool {
        let mut found = false;
        self.each(hay, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Every start of a needle in `hay`, sorted.
    pub(in crate::detect) fn starts(&self, hay: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        self.each(hay, |_, at| {
            out.push(at);
            true
        });
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::traversal::text::find_ci;

    const LIST: &[&[u8]] = &[
        b"/etc/passwd",
        b"etc",
        b"web.config",
        b"id_rsa",
        b"zz",
        b"a",
    ];

    #[test]
    fn agrees_with_one_pass_per_needle() {
        let set = Needles::new(LIST);
        for hay in [
            &b"GET /ETC/PASSWD and Web.Config, id_rsa etc zzz"[..],
            b"",
            b"a",
            b"xxxxxx",
            b"/etc/passw",
        ] {
            let mut got: Vec<(usize, usize)> = Vec::new();
            set.each(hay, |i, at| {
                got.push((i, at));
                true
            });
            got.sort_unstable();
            let mut want = Vec::new();
            for (i, n) in LIST.iter().enumerate() {
                let mut from = 0;
                while let Some(p) = find_ci(hay, n, from) {
                    want.push((i, p));
                    from = p + 1;
                }
            }
            want.sort_unstable();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(hay));
            assert_eq!(set.any(hay), !want.is_empty());
        }
    }
}
