//! Reading a setting's text. Every default lives in spin.toml, so a setting that arrives empty
//! is a deployment that lost it: the answer names the variable to set.

use std::ops::RangeInclusive;

use crate::Problem;

/// The whole number in setting `name` (its text `raw`, `None` when the runtime has none), within
/// `range`; otherwise a 500 `misconfigured` naming the variable and what it must be.
pub fn number(name: &str, raw: Option<&str>, range: RangeInclusive<u64>) -> Result<u64, Problem> {
    let raw = raw.map(str::trim).filter(|raw| !raw.is_empty()).ok_or_else(|| {
        Problem::misconfigured(format!("the `{name}` setting is missing; set it (spin.toml's [variables] has the default)"))
    })?;
    let value: u64 = raw.parse().map_err(|_| Problem::misconfigured(format!("{name} must be a whole number, got {raw:?}")))?;
    if !range.contains(&value) {
        return Err(Problem::misconfigured(format!("{name} must be between {} and {}, got {value}", range.start(), range.end())));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_within_range_and_never_defaulted() {
        assert_eq!(number("n", Some(" 42 "), 1..=100).unwrap(), 42);
        for (raw, says) in [(None, "missing"), (Some(""), "missing"), (Some("4x"), "whole number"), (Some("0"), "between 1 and 100")] {
            let problem = number("n", raw, 1..=100).unwrap_err();
            assert_eq!(problem.status(), 500);
            let text = format!("{problem:?}");
            assert!(text.contains(says) && text.contains('n'), "{raw:?}: {text}");
        }
    }
}
