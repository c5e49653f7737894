//! "Did you mean": the known word closest to a mistyped one, for config keys
//! (`unknown key "update_interval"; did you mean "update_intervals"?`) and
//! omclient's commands (`unknown command "stat"; did you mean "stats"?`).
//!
//! A room of its own, importing nothing, because both `config` and `ops`
//! use it: in `cli`, the other file the programs share, it would make
//! `config` import a room that imports `config` back.

/// The word of `known` closest to `typed`, when it is close enough to be a
/// likely typo: at most half the longer word's length in edits, so `stat`
/// finds `stats` but `bogus` finds nothing. On a tie, the first in `known`.
pub(crate) fn closest<'a>(
    typed: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(typed, k), k))
        .filter(|(d, k)| *d <= k.len().max(typed.len()) / 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance in characters: the fewest insertions, deletions
/// and substitutions that turn `a` into `b`. The words are short, so
/// O(n*m) time is nothing.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("stat", "stats"), 1);
        assert_eq!(edit_distance("stpo", "stop"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "dump"), 4);
        assert_eq!(edit_distance("服务", "服务器"), 1, "characters, not bytes");
    }

    #[test]
    fn only_a_likely_typo_is_suggested() {
        let words = ["help", "stats", "stop", "dump"];
        assert_eq!(closest("stat", words), Some("stats"));
        assert_eq!(closest("sotp", words), Some("stop"));
        assert_eq!(closest("dunp", words), Some("dump"));
        assert_eq!(closest("bogus", words), None);
        assert_eq!(closest("", words), None);
        assert_eq!(closest("stat", []), None);
        // Equally close: the first listed wins, so the answer is stable.
        assert_eq!(closest("sta", ["stop", "stats"]), Some("stop"));
    }
}
