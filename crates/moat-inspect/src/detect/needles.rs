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
    /// How the haystack is walked to its anchor bytes.
    walk: Walk,
}

/// The anchor bytes of a set, grouped in threes for `memchr3`: each group
/// is found by a vectorised search, so the bytes between anchors cost
/// almost nothing. Both cases of a letter share a group, which keeps the
/// occurrences of any one needle in order. A set with more groups than
/// [`MAX_GROUPS`], a haystack shorter than [`MIN_GROUP_WALK`] or one that
/// starts dense in anchor bytes looks every byte up in the table instead.
enum Walk {
    Groups(Vec<[u8; 3]>),
    Table,
}

/// The most `memchr3` passes worth making before one table pass is cheaper.
const MAX_GROUPS: usize = 3;

/// The shortest haystack worth the `memchr3` passes: shorter values (names,
/// ids, most parameters) are cheaper to walk through the table once.
const MIN_GROUP_WALK: usize = 64;

/// Anchor bytes in a haystack's first [`MIN_GROUP_WALK`] bytes from which
/// on the table is cheaper: a `memchr3` search restarted at every hit
/// (a URL's `/`, `.` and `-`) costs more than a look-up per byte.
const DENSE_HITS: usize = 4;

impl Walk {
    fn new(slots: &[(u16, u16); 256]) -> Self {
        let mut units: Vec<Vec<u8>> = Vec::new();
        for b in 0..=255u8 {
            if slots[usize::from(b)].1 == 0 || b.is_ascii_uppercase() {
                continue;
            }
            let upper = b.to_ascii_uppercase();
            units.push(if upper == b || slots[usize::from(upper)].1 == 0 {
                vec![b]
            } else {
                vec![b, upper]
            });
        }
        // First fit, pairs first.
        units.sort_by_key(|u| std::cmp::Reverse(u.len()));
        let mut groups: Vec<Vec<u8>> = Vec::new();
        for unit in units {
            match groups.iter_mut().find(|g| g.len() + unit.len() <= 3) {
                Some(g) => g.extend(unit),
                None => groups.push(unit),
            }
        }
        if groups.len() > MAX_GROUPS {
            return Walk::Table;
        }
        Walk::Groups(
            groups
                .into_iter()
                .map(|g| [g[0], g[g.len().min(2) - 1], g[g.len() - 1]])
                .collect(),
        )
    }
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
            walk: Walk::new(&slots),
            slots,
            entries,
        }
    }

    /// The needles.
    pub(in crate::detect) fn needles(&self) -> &'static [&'static [u8]] {
        self.needles
    }

    /// Calls `f(needle index, start)` for every occurrence of every needle
    /// in `hay` (for any one needle, in order of start), until `f` returns
    /// `false`.
    pub(in crate::detect) fn each(&self, hay: &[u8], mut f: impl FnMut(usize, usize) -> bool) {
        match &self.walk {
            Walk::Groups(groups) if hay.len() >= MIN_GROUP_WALK && self.sparse(hay) => {
                for &[a, b, c] in groups {
                    for i in memchr::memchr3_iter(a, b, c, hay) {
                        if !self.at(hay, i, &mut f) {
                            return;
                        }
                    }
                }
            }
            Walk::Groups(_) | Walk::Table => {
                for i in 0..hay.len() {
                    if !self.at(hay, i, &mut f) {
                        return;
                    }
                }
            }
        }
    }

    /// Whether `hay` starts with few anchor bytes (see [`DENSE_HITS`]).
    fn sparse(&self, hay: &[u8]) -> bool {
        let head = &hay[..hay.len().min(MIN_GROUP_WALK)];
        head.iter()
            .filter(|&&b| self.slots[usize::from(b)].1 > 0)
            .count()
            < DENSE_HITS
    }

    /// Compares the needles anchored at `hay[i]`; `false` once `f` asks to
    /// stop.
    fn at(&self, hay: &[u8], i: usize, f: &mut impl FnMut(usize, usize) -> bool) -> bool {
        let (start, len) = self.slots[usize::from(hay[i])];
        let from = usize::from(start);
        for &(idx, off) in &self.entries[from..from + usize::from(len)] {
            let (idx, off) = (usize::from(idx), usize::from(off));
            if i >= off && starts_with_ci(hay, i - off, self.needles[idx]) && !f(idx, i - off) {
                return false;
            }
        }
        true
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

    /// More anchor bytes than `memchr3` passes are worth.
    const MANY: &[&[u8]] = &[b"qj", b"xk", b"vz", b"w;", b"y:", b"p!", b"b?", b"g~"];

    #[test]
    fn walks_few_anchors_by_memchr_and_many_by_table() {
        assert!(matches!(Needles::new(LIST).walk, Walk::Groups(ref g) if g.len() == 3));
        assert!(matches!(Needles::new(MANY).walk, Walk::Table));
    }

    #[test]
    fn agrees_with_one_pass_per_needle() {
        for list in [LIST, MANY] {
            agrees(list);
        }
    }

    fn agrees(list: &'static [&'static [u8]]) {
        let set = Needles::new(list);
        for hay in [
            &b"GET /ETC/PASSWD and Web.Config, id_rsa etc zzz"[..],
            b"",
            b"a",
            b"xxxxxx",
            b"/etc/passw",
            b"QJ xK;vz w; Y: p! B? g~ g~~ qjqj",
            // Long enough for the `memchr3` walk.
            b"GET /ETC/PASSWD and Web.Config, id_rsa etc zzz, then /etc/passwd, WEB.CONFIG, ID_RSA, zz, a",
            b"QJ xK;vz w; Y: p! B? g~ g~~ qjqj QJ xK;vz w; Y: p! B? g~ g~~ qjqj QJ xK;vz w;",
            // Long, and dense in anchors: the table.
            b"https://a.b/c_d/e.f/etc/passwd/web.config/id_rsa/zz/a_b.c/d-e/f.g/h_i/j.k/l/m/n/o",
        ] {
            let mut got: Vec<(usize, usize)> = Vec::new();
            set.each(hay, |i, at| {
                got.push((i, at));
                true
            });
            got.sort_unstable();
            let mut want = Vec::new();
            for (i, n) in list.iter().enumerate() {
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
