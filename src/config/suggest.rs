//! "Did you mean …?" for misspelt keys and process names.

/// The candidate closest to `word`, if it is close enough to be a plausible
/// typo: at most one edit for short words, two for longer ones, ignoring case.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit
/// (`comamnd` → `command`), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j] = distance between a[..i] and b[..j]
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
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
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
