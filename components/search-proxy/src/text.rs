//! Text rules shared by every backend: how a query splits into terms, how CJK text is indexed,
//! and how matches are highlighted. Pure.
//!
//! CJK scripts have no spaces between words, so a word tokenizer would see a whole sentence as
//! one token. Like Lucene's CJK analyzer, runs of CJK characters are indexed as overlapping
//! character pairs (`视频教程` → `视频 频教 教程`) plus the run's last character, and a query run
//! becomes the phrase of its pairs: any substring of two or more characters is found, in order.
//! A single character is a prefix query over the pairs. Other text stays as words.

use edge_http::text::{escape_html, escape_html_into};

/// One search term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// A word of letters and digits, lowercased.
    Word(String),
    /// A run of CJK characters.
    Cjk(String),
}

impl Term {
    /// The term's text.
    pub fn as_str(&self) -> &str {
        match self {
            Term::Word(w) | Term::Cjk(w) => w,
        }
    }
}

/// Whether `c` belongs to a script written without spaces between words.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B-F and compatibility supplement
}

/// The terms of `text`: words of letters and digits (lowercased) and CJK runs; everything else
/// (punctuation, quotes, operators, SQL or DSL syntax) only separates terms.
pub(crate) fn terms(text: &str) -> Vec<Term> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(Term::Word(std::mem::take(&mut word)));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                out.push(Term::Cjk(std::mem::take(&mut cjk)));
            }
            word.extend(c.to_lowercase());
        } else {
            if !word.is_empty() {
                out.push(Term::Word(std::mem::take(&mut word)));
            }
            if !cjk.is_empty() {
                out.push(Term::Cjk(std::mem::take(&mut cjk)));
            }
        }
    }
    if !word.is_empty() {
        out.push(Term::Word(word));
    }
    if !cjk.is_empty() {
        out.push(Term::Cjk(cjk));
    }
    out
}

/// The overlapping pairs of a CJK run (the run itself when it is one character).
pub(crate) fn bigrams(run: &str) -> Vec<String> {
    let chars: Vec<char> = run.chars().collect();
    if chars.len() < 2 {
        return vec![run.to_owned()];
    }
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

/// `text` as it is handed to a word tokenizer: CJK runs replaced by their pairs and their last
/// character, everything else unchanged.
pub(crate) fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push(' ');
        let pairs = bigrams(run);
        out.push_str(&pairs.join(" "));
        if run.chars().nth(1).is_some() {
            if let Some(last) = run.chars().last() {
                out.push(' ');
                out.push(last);
            }
        }
        out.push(' ');
        run.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Byte ranges of `text` where a term matches: words at the start of a word (any case), CJK
/// runs anywhere. Sorted and merged.
pub(crate) fn match_ranges(text: &str, terms: &[Term]) -> Vec<(usize, usize)> {
    let folded: Vec<(usize, char)> = text.char_indices().map(|(i, c)| (i, fold(c))).collect();
    let mut ranges = Vec::new();
    for term in terms {
        let needle: Vec<char> = term.as_str().chars().map(fold).collect();
        if needle.is_empty() || needle.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - needle.len() {
            if let Term::Word(_) = term {
                if start > 0 && folded[start - 1].1.is_alphanumeric() && !is_cjk(folded[start - 1].1) {
                    continue;
                }
            }
            if folded[start..start + needle.len()].iter().map(|(_, c)| *c).eq(needle.iter().copied()) {
                let end = folded.get(start + needle.len()).map_or(text.len(), |(i, _)| *i);
                ranges.push((folded[start].0, end));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// One character, case-folded when it folds to exactly one character.
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// `text` HTML-escaped with every match wrapped in `<mark>`; `None` when nothing matches.
pub(crate) fn highlight(text: &str, terms: &[Term]) -> Option<String> {
    let ranges = match_ranges(text, terms);
    if ranges.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + ranges.len() * 13);
    let mut at = 0;
    for (start, end) in ranges {
        escape_html_into(&text[at..start], &mut out);
        out.push_str("<mark>");
        escape_html_into(&text[start..end], &mut out);
        out.push_str("</mark>");
        at = end;
    }
    escape_html_into(&text[at..], &mut out);
    Some(out)
}

/// Up to about `width` characters of `text` around its first match, highlighted, with `…`
/// where text was cut; `None` when nothing matches.
pub(crate) fn snippet(text: &str, terms: &[Term], width: usize) -> Option<String> {
    let first = *match_ranges(text, terms).first()?;
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let at = starts.partition_point(|&i| i < first.0);
    let from = at.saturating_sub(width / 4);
    let to = (from + width).min(starts.len());
    let start_byte = starts[from];
    let end_byte = starts.get(to).copied().unwrap_or(text.len());
    let marked = highlight(&text[start_byte..end_byte], terms).unwrap_or_else(|| escape_html(&text[start_byte..end_byte]));
    let lead = if from > 0 { "…" } else { "" };
    let tail = if end_byte < text.len() { "…" } else { "" };
    Some(format!("{lead}{marked}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Term {
        Term::Word(s.into())
    }
    fn c(s: &str) -> Term {
        Term::Cjk(s.into())
    }

    #[test]
    fn operators_quotes_and_sql_only_separate_terms() {
        assert_eq!(terms(r#"Cats" OR 1=1; DROP TABLE--"#), vec![w("cats"), w("or"), w("1"), w("1"), w("drop"), w("table")]);
        assert_eq!(terms(r#"title:"x" NEAR(a b) * ^ {c}"#), vec![w("title"), w("x"), w("near"), w("a"), w("b"), w("c")]);
        assert!(terms("*** \"\" ()").is_empty());
    }

    #[test]
    fn cjk_runs_split_from_words() {
        assert_eq!(terms("Rust视频教程2024"), vec![w("rust"), c("视频教程"), w("2024")]);
        assert_eq!(terms("Ünïcode Straße"), vec![w("ünïcode"), w("straße")]);
    }

    #[test]
    fn cjk_is_indexed_as_pairs_plus_the_last_character() {
        assert_eq!(bigrams("视频教程"), vec!["视频", "频教", "教程"]);
        assert_eq!(
            index_text("学 Rust 视频教程!").split_whitespace().collect::<Vec<_>>(),
            vec!["学", "Rust", "视频", "频教", "教程", "程", "!"]
        );
        assert_eq!(index_text("猫咪").split_whitespace().collect::<Vec<_>>(), vec!["猫咪", "咪"]);
        assert_eq!(index_text("plain words"), "plain words");
    }

    #[test]
    fn highlights_word_starts_and_cjk_substrings_escaped() {
        assert_eq!(highlight("Cats & <dogs>", &[w("cat")]).unwrap(), "<mark>Cat</mark>s &amp; &lt;dogs&gt;");
        assert_eq!(highlight("bobcat", &[w("cat")]), None);
        assert_eq!(highlight("Rust视频教程", &[c("视频")]).unwrap(), "Rust<mark>视频</mark>教程");
        assert_eq!(highlight("rust and rusty", &[w("rust"), w("rusty")]).unwrap(), "<mark>rust</mark> and <mark>rusty</mark>");
    }

    #[test]
    fn snippet_cuts_around_the_first_match() {
        let text = format!("{} needle {}", "a ".repeat(100), "b ".repeat(100));
        let s = snippet(&text, &[w("needle")], 40).unwrap();
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>needle</mark>"));
        assert!(s.chars().count() < 70);
        assert_eq!(snippet("short needle", &[w("needle")], 40).unwrap(), "short <mark>needle</mark>");
        assert_eq!(snippet("nothing", &[w("needle")], 40), None);
    }
}
