//! Label ordering (numeric-aware, natural) and the edit distance behind "did you mean".

use std::cmp::Ordering;

/// Compares two labels the way people expect result tables to be sorted:
///
/// 1. labels that parse as numbers (`5`, `0.001`, `1e-4`, `-2`) compare numerically,
///    so `1 < 2 < 5 < 10 < 50`;
/// 2. numbers sort before anything else;
/// 3. other labels compare in natural order: runs of digits by value (`run2 < run10`),
///    the rest by characters.
///
/// Ties in value (`1` vs `1.0`) are broken by the plain string order, so the order is
/// total and two different labels never compare equal.
pub fn compare_labels(a: &str, b: &str) -> Ordering {
    match (parse_number(a), parse_number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => natural_cmp(a, b).then_with(|| a.cmp(b)),
    }
}

/// Lexicographic [`compare_labels`] over tuples of labels (row or column keys).
pub fn compare_label_tuples<S: AsRef<str>>(a: &[S], b: &[S]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = compare_labels(x.as_ref(), y.as_ref());
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    // `f64::from_str` also accepts "inf"/"infinity"/"nan"; keep the infinities (they are
    // numbers a metric can take) but not NaN, which has no place in an order.
    t.parse::<f64>().ok().filter(|v| !v.is_nan())
}

fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut xs = a.chars().peekable();
    let mut ys = b.chars().peekable();
    loop {
        match (xs.peek().copied(), ys.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let dx = take_digits(&mut xs);
                let dy = take_digits(&mut ys);
                let tx = dx.trim_start_matches('0');
                let ty = dy.trim_start_matches('0');
                let o = tx
                    .len()
                    .cmp(&ty.len())
                    .then_with(|| tx.cmp(ty))
                    .then_with(|| dx.len().cmp(&dy.len()));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                xs.next();
                ys.next();
            }
        }
    }
}

fn take_digits(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut s = String::new();
    while let Some(&c) = it.peek() {
        if !c.is_ascii_digit() {
            break;
        }
        s.push(c);
        it.next();
    }
    s
}

/// Levenshtein distance (insertions, deletions, substitutions) between two strings,
/// by characters.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The names among `available` closest to `name` (case-insensitive edit distance of at
/// most max(2, len/3)), best first, at most three.
pub(crate) fn suggest(name: &str, available: &[String]) -> Vec<String> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &String)> = available
        .iter()
        .map(|cand| (levenshtein(&lower, &cand.to_lowercase()), cand))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort_by(|(d1, n1), (d2, n2)| d1.cmp(d2).then_with(|| n1.cmp(n2)));
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort_by(|a, b| compare_labels(a, b));
        v
    }

    #[test]
    fn numbers_sort_numerically() {
        assert_eq!(
            sorted(vec!["10", "2", "50", "1", "5"]),
            ["1", "2", "5", "10", "50"]
        );
        assert_eq!(
            sorted(vec!["0.01", "1e-4", "0.001", "-1", "inf"]),
            ["-1", "1e-4", "0.001", "0.01", "inf"]
        );
    }

    #[test]
    fn numbers_before_text_and_text_in_natural_order() {
        assert_eq!(
            sorted(vec!["rings", "run10", "3", "moons", "run2", "run02"]),
            ["3", "moons", "rings", "run2", "run02", "run10"]
        );
    }

    #[test]
    fn order_is_total_for_equal_values() {
        assert_eq!(compare_labels("1", "1.0"), Ordering::Less);
        assert_eq!(compare_labels("1.0", "1"), Ordering::Greater);
        assert_eq!(compare_labels("x", "x"), Ordering::Equal);
    }

    #[test]
    fn tuples_compare_label_by_label() {
        let mut rows = vec![
            vec!["moons", "10"],
            vec!["moons", "2"],
            vec!["circles", "50"],
        ];
        rows.sort_by(|a, b| compare_label_tuples(a, b));
        assert_eq!(
            rows,
            [
                vec!["circles", "50"],
                vec!["moons", "2"],
                vec!["moons", "10"]
            ]
        );
    }

    #[test]
    fn levenshtein_by_hand() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("nfe", "nef"), 2);
        assert_eq!(levenshtein("seed", "sed"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    #[test]
    fn suggestions_are_nearest_first() {
        let avail: Vec<String> = ["data", "lr", "metric", "nfe", "seed", "steps"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(suggest("sed", &avail), ["seed"]);
        assert_eq!(suggest("NFE", &avail), ["nfe"]);
        assert_eq!(suggest("step", &avail), ["steps", "seed"]);
        assert!(suggest("temperature", &avail).is_empty());
    }
}
