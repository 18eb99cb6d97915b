//! Spin's identifier rules, with Spin's error texts (its `spin-serde` `Id` type): component ids
//! are kebab ids (`upload-sign`), variable names lower-case snake ids (`redis_address`), and
//! key-value and SQLite labels either kebab or snake ids. Deserialising through these types
//! makes a bad id a TOML error pointing at the offending line, as `spin up` reports it.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// Checks `id` as a Spin id whose words are separated by `delimiter` (`-` or `_`), every word
/// starting with an ASCII letter and either all lowercase or all uppercase; `lower` also
/// refuses uppercase words.
pub(crate) fn check(id: &str, delimiter: char, lower: bool) -> Result<(), String> {
    let wrong = if delimiter == '-' { '_' } else { '-' };
    if id.is_empty() {
        return Err("empty".into());
    }
    if id.contains(wrong) {
        return Err(format!("words must be separated with {delimiter:?}, not {wrong:?}"));
    }
    for word in id.split(delimiter) {
        let Some(first) = word.chars().next() else {
            return Err(format!("{delimiter:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!("{delimiter:?}-separated words must start with an ASCII letter; got {first:?}"));
        }
        let upper = first.is_ascii_uppercase();
        for c in word.chars().skip(1) {
            if c.is_ascii_digit() {
                continue;
            }
            if !c.is_ascii_alphanumeric() {
                return Err(format!("{delimiter:?}-separated words may only contain alphanumeric ASCII; got {c:?}"));
            }
            if c.is_ascii_uppercase() != upper {
                return Err(format!("{delimiter:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"));
            }
        }
        if lower && upper {
            return Err(format!("Lower-case identifiers must be all lowercase; got {id:?}"));
        }
    }
    Ok(())
}

/// A variable name: a lower-case snake id (`redis_address`).
pub(crate) fn check_variable(name: &str) -> Result<(), String> {
    check(name, '_', true)
}

/// A key-value store or SQLite database label: a kebab or a snake id.
pub(crate) fn check_label(label: &str) -> Result<(), String> {
    if check(label, '-', false).is_ok() || check(label, '_', false).is_ok() {
        Ok(())
    } else {
        Err("expected kebab-case or snake_case".into())
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let id = String::deserialize(deserializer)?;
                $check(&id).map_err(serde::de::Error::custom)?;
                Ok($name(id))
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A component id (`[component.<id>]`, a trigger's `component`): a kebab id.
    ComponentId,
    |id: &str| check(id, '-', false)
);
id_type!(
    /// An application or component variable name: a lower-case snake id.
    VariableName,
    check_variable
);

/// Deserialises `key_value_stores` / `sqlite_databases`, refusing the whole list with Spin's
/// text when any label is neither a kebab nor a snake id.
pub(crate) fn labels<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let labels = Vec::<String>::deserialize(deserializer)?;
    if labels.iter().any(|l| check_label(l).is_err()) {
        return Err(serde::de::Error::custom("expected kebab-case or snake_case"));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_texts_for_bad_ids() {
        let err = |id: &str, d: char, lower: bool| check(id, d, lower).unwrap_err();
        assert_eq!(err("danmaku_per_10s", '_', true), "'_'-separated words must start with an ASCII letter; got '1'");
        assert_eq!(err("upload_sign", '-', false), "words must be separated with '-', not '_'");
        assert_eq!(err("a+b", '_', true), "'_'-separated words may only contain alphanumeric ASCII; got '+'");
        assert_eq!(err("aBc", '-', false), "'-'-separated words must be all lowercase or all UPPERCASE; got \"aBc\"");
        assert_eq!(err("a__b", '_', true), "'_'-separated words must not be empty");
        assert_eq!(err("API_KEY", '_', true), "Lower-case identifiers must be all lowercase; got \"API_KEY\"");
        assert_eq!(err("", '-', false), "empty");
    }

    #[test]
    fn valid_ids() {
        for ok in ["redis_address", "s3_key2", "a"] {
            assert_eq!(check_variable(ok), Ok(()), "{ok}");
        }
        assert_eq!(check("ABC-def", '-', false), Ok(()));
        for ok in ["default", "DEFAULT", "my-store", "my_store", "MY_STORE", "a1"] {
            assert_eq!(check_label(ok), Ok(()), "{ok}");
        }
        for bad in ["my_Store", "a_1", "1a", "_a", "a_", "", "my store"] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }
}
