//! "Did you mean …?" for misspelt keys and process names.

/// Longer words get no suggestion: nobody misspells a 64-character key,
/// and the distance costs the product of the two lengths.
const MAX_WORD: usize = 64;

/// The candidate closest to `word`, if it is close enough to be a plausible
/// typo: at most one edit for short words, two for longer ones, ignoring case.
///
/// A candidate whose length differs by more than that is skipped before
/// any distance is computed, so a long list costs little per entry.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    if len > MAX_WORD {
        return None;
    }
    let limit = if len <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_WORD * 4 && c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit
/// (`comamnd` → `command`), over characters, ignoring ASCII case. Three
/// rows of the table are kept, not all of it.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // two[j], one[j], row[j] = distance between a[..i-2], a[..i-1], a[..i] and b[..j]
    let mut two: Vec<usize> = Vec::new();
    let mut one: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (one[j] + 1).min(row[j - 1] + 1).min(one[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(two[j - 2] + 1);
            }
            row[j] = best;
        }
        // Rotate: the oldest row is overwritten next.
        std::mem::swap(&mut two, &mut one);
        std::mem::swap(&mut one, &mut row);
        if row.len() != b.len() + 1 {
            row = vec![0; b.len() + 1];
        }
    }
    one[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 5] = ["command", "cwd", "env", "env_file", "restart"];

    #[test]
    fn near_misses_are_suggested() {
        assert_eq!(did_you_mean("comand", KEYS), Some("command"));
        assert_eq!(did_you_mean("comamnd", KEYS), Some("command"));
        assert_eq!(did_you_mean("Command", KEYS), Some("command"));
        assert_eq!(did_you_mean("envfile", KEYS), Some("env_file"));
        assert_eq!(did_you_mean("restrat", KEYS), Some("restart"));
        assert_eq!(did_you_mean("ewd", KEYS), Some("cwd"));
    }

    #[test]
    fn far_words_are_not() {
        assert_eq!(did_you_mean("image", KEYS), None);
        assert_eq!(did_you_mean("timeout", KEYS), None);
        assert_eq!(did_you_mean("x", KEYS), None);
    }

    #[test]
    fn lengths_too_far_apart_or_too_long_get_nothing() {
        assert_eq!(did_you_mean("cmd", ["command"]), None);
        let long = "c".repeat(MAX_WORD + 1);
        assert_eq!(did_you_mean(&long, [long.as_str()]), None);
        assert_eq!(did_you_mean("commandd", ["command"]), Some("command"));
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("comamnd", "command"), 1);
        assert_eq!(edit_distance("abcd", "badc"), 2);
    }
}
