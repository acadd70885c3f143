//! "Did you mean" suggestions for misspelled keys and values.

/// The candidate closest to `word`, if one is close enough to be a likely
/// typo (a small edit distance, or the same word in another case).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| !candidate.starts_with('$'))
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lower, &candidate.to_ascii_lowercase());
            // Among equally close candidates, the one that also matches the
            // word's case wins (`snop` is `snoop`, not `Stop`).
            let exact = strsim::damerau_levenshtein(word, candidate);
            (distance, exact, candidate)
        })
        .filter(|(distance, _, candidate)| {
            let limit = (candidate.len().max(word.len()) / 3).max(1);
            *distance <= limit
        })
        .min_by_key(|(distance, exact, _)| (*distance, *exact))
        .map(|(_, _, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn close_words_are_suggested_and_far_ones_are_not() {
        let keys = ["type", "methods", "url", "function", "scope", "query"];
        assert_eq!(did_you_mean("metods", keys), Some("methods"));
        assert_eq!(did_you_mean("fucntion", keys), Some("function"));
        assert_eq!(did_you_mean("URL", keys), Some("url"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("snop", ["Stop", "snoop"]), Some("snoop"));
    }
}
