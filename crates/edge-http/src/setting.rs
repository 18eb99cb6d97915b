//! Settings. Every tunable is a Spin variable whose default lives in spin.toml; a component names
//! each one once, as a [`Number`] or [`Text`] constant in its `settings.rs` (the table an
//! operator reads), and reads it where it is used, through a [`Source`]: Spin's variables on the
//! platform, a map or a closure in a unit test. Nothing is read before a route needs it (on Spin
//! each read is a host call). A setting that arrives missing or malformed is a deployment that
//! lost it: a 500 `misconfigured` naming the variable to set.

use std::cell::OnceCell;

use crate::Problem;

/// A setting: the variable that holds it and how its text becomes a value.
pub trait Setting {
    /// What the setting holds.
    type Value;
    /// The variable's name, as in spin.toml.
    fn name(&self) -> &'static str;
    /// The value of the variable's text `raw` (`None` when the runtime has none), or the 500
    /// naming the variable.
    fn parse(&self, raw: Option<&str>) -> Result<Self::Value, Problem>;
}

/// A whole-number setting within `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    /// The variable's name.
    pub name: &'static str,
    /// The least value accepted.
    pub min: u64,
    /// The greatest value accepted.
    pub max: u64,
}

impl Number {
    /// The setting `name`, accepted within `min..=max`.
    pub const fn new(name: &'static str, min: u64, max: u64) -> Number {
        Number { name, min, max }
    }
}

impl Setting for Number {
    type Value = u64;

    fn name(&self) -> &'static str {
        self.name
    }

    fn parse(&self, raw: Option<&str>) -> Result<u64, Problem> {
        let name = self.name;
        let raw = raw.map(str::trim).filter(|raw| !raw.is_empty()).ok_or_else(|| {
            Problem::misconfigured(format!("the `{name}` setting is missing; set it (spin.toml's [variables] has the default)"))
        })?;
        let value: u64 = raw.parse().map_err(|_| Problem::misconfigured(format!("{name} must be a whole number, got {raw:?}")))?;
        if !(self.min..=self.max).contains(&value) {
            return Err(Problem::misconfigured(format!("{name} must be between {} and {}, got {value}", self.min, self.max)));
        }
        Ok(value)
    }
}

/// A text setting, taken as it is (it may be empty: an empty list, no blocked words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// The variable's name.
    pub name: &'static str,
}

impl Text {
    /// The setting `name`.
    pub const fn new(name: &'static str) -> Text {
        Text { name }
    }
}

impl Setting for Text {
    type Value = String;

    fn name(&self) -> &'static str {
        self.name
    }

    fn parse(&self, raw: Option<&str>) -> Result<String, Problem> {
        raw.map(str::to_owned).ok_or_else(|| {
            Problem::misconfigured(format!("the service is missing its `{}` setting; ask the operator to set it", self.name))
        })
    }
}

/// A true-or-false setting: `true` or `false`, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The variable's name.
    pub name: &'static str,
}

impl Flag {
    /// The setting `name`.
    pub const fn new(name: &'static str) -> Flag {
        Flag { name }
    }
}

impl Setting for Flag {
    type Value = bool;

    fn name(&self) -> &'static str {
        self.name
    }

    fn parse(&self, raw: Option<&str>) -> Result<bool, Problem> {
        match raw.map(str::trim) {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            other => Err(Problem::misconfigured(format!("{} must be true or false, got {other:?}", self.name))),
        }
    }
}

/// A setting's value, read from its source the first time it is asked for, so a request that
/// asks again makes no second read (on Spin, no second host call).
#[derive(Debug)]
pub struct Once<T>(OnceCell<T>);

impl<T> Default for Once<T> {
    fn default() -> Self {
        Once(OnceCell::new())
    }
}

impl<T: Clone> Once<T> {
    /// The value of `setting` from `source`, read on the first call.
    pub fn get<S: Setting<Value = T>>(&self, source: &impl Source, setting: &S) -> Result<T, Problem> {
        if let Some(value) = self.0.get() {
            return Ok(value.clone());
        }
        let value = source.get(setting)?;
        Ok(self.0.get_or_init(|| value).clone())
    }
}

/// Where settings are read from.
pub trait Source {
    /// The text of variable `name`, `None` when there is none.
    fn raw(&self, name: &str) -> Option<String>;

    /// The value of `setting`, or the 500 naming its variable.
    fn get<S: Setting>(&self, setting: &S) -> Result<S::Value, Problem> {
        setting.parse(self.raw(setting.name()).as_deref())
    }
}

/// A lookup function is a source: what unit tests pass.
impl<F: Fn(&str) -> Option<String>> Source for F {
    fn raw(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_within_range_and_never_defaulted() {
        let n = Number::new("n", 1, 100);
        assert_eq!((|_: &str| Some(" 42 ".to_owned())).get(&n).unwrap(), 42);
        for (raw, says) in [(None, "missing"), (Some(""), "missing"), (Some("4x"), "whole number"), (Some("0"), "between 1 and 100")] {
            let problem = n.parse(raw).unwrap_err();
            assert_eq!(problem.status(), 500);
            let text = format!("{problem:?}");
            assert!(text.contains(says) && text.contains('n'), "{raw:?}: {text}");
        }
    }

    #[test]
    fn flags_are_true_or_false_and_once_reads_once() {
        let flag = Flag::new("single_device");
        assert_eq!((flag.parse(Some(" true ")).unwrap(), flag.parse(Some("false")).unwrap()), (true, false));
        assert!(flag.parse(Some("yes")).is_err() && flag.parse(None).is_err());
        let reads = std::cell::Cell::new(0);
        let source = |_: &str| {
            reads.set(reads.get() + 1);
            Some("7".to_owned())
        };
        let once = Once::default();
        let n = Number::new("n", 1, 10);
        assert_eq!((once.get(&source, &n).unwrap(), once.get(&source, &n).unwrap(), reads.get()), (7, 7, 1));
    }

    #[test]
    fn text_may_be_empty_but_not_missing() {
        let t = Text::new("danmaku_blocklist");
        assert_eq!(t.parse(Some("")).unwrap(), "");
        assert!(format!("{:?}", t.parse(None).unwrap_err()).contains("danmaku_blocklist"));
    }
}
