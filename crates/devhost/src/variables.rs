//! Variables as Spin resolves them: application variables from `SPIN_VARIABLE_<NAME>` or their
//! default, component variables and outbound hosts as `{{ name }}` templates over them.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::manifest::{Manifest, VariableDecl};

/// Resolved application variable values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Values {
    values: BTreeMap<String, String>,
}

impl Values {
    /// Resolves every declared variable; `env` looks up `SPIN_VARIABLE_<NAME>`, which wins over
    /// the default. Fails naming every required variable that has no value.
    pub(crate) fn resolve(declared: &BTreeMap<String, VariableDecl>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in declared {
            let key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match env(&key).or_else(|| decl.default.clone()) {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None if decl.required => missing.push(format!("{name} (set {key})")),
                None => {}
            }
        }
        if !missing.is_empty() {
            bail!("required variable(s) have no value: {}", missing.join(", "));
        }
        Ok(Values { values })
    }

    /// Expands `{{ name }}` templates. An undeclared or unset variable is an error naming it.
    pub(crate) fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed '{{{{' in template {template:?}");
            };
            let name = after[..end].trim();
            match self.values.get(name) {
                Some(value) => out.push_str(value),
                None => bail!("template {template:?} uses variable {name:?}, which has no value"),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every component's variables expanded, by component id then variable name.
    pub(crate) fn components(&self, manifest: &Manifest) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        manifest
            .components
            .iter()
            .map(|(id, component)| {
                let vars = component
                    .variables
                    .iter()
                    .map(|(name, template)| {
                        let value = self.expand(template).map_err(|e| anyhow::anyhow!("component {id:?} variable {name:?}: {e}"))?;
                        Ok((name.to_string(), value))
                    })
                    .collect::<Result<_>>()?;
                Ok((id.clone(), vars))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl { default: default.map(Into::into), required, secret: false, description: None }
    }

    #[test]
    fn env_wins_over_default_and_required_missing_is_named() {
        let mut declared = BTreeMap::new();
        declared.insert("addr".to_owned(), decl(Some("d"), false));
        declared.insert("key".to_owned(), decl(None, true));
        declared.insert("opt".to_owned(), decl(None, false));
        let env = |k: &str| (k == "SPIN_VARIABLE_ADDR").then(|| "e".to_owned());
        let err = Values::resolve(&declared, env).unwrap_err().to_string();
        assert!(err.contains("key (set SPIN_VARIABLE_KEY)"), "{err}");
        let env = |k: &str| match k {
            "SPIN_VARIABLE_ADDR" => Some("e".to_owned()),
            "SPIN_VARIABLE_KEY" => Some("k".to_owned()),
            _ => None,
        };
        let values = Values::resolve(&declared, env).unwrap();
        assert_eq!(values.expand("{{addr}}/{{ key }}").unwrap(), "e/k");
        assert!(values.expand("{{ opt }}").is_err());
        assert!(values.expand("{{ addr").is_err());
        assert_eq!(values.expand("plain").unwrap(), "plain");
    }
}
