//! Typed access to a task's (already templated) arguments, with Ansible's
//! loose typing: `"yes"`, `"on"`, `1` are booleans, `"30"` is a number.
//! Every module lists the parameters it knows; anything else is an error
//! naming the parameter, never silently ignored.

use serde_json::Value;

use super::spec::Module;
use super::{ModuleError, Vars};

/// One module's arguments.
pub struct Args<'a> {
    pub module: &'static str,
    spec: &'static Module,
    vars: &'a Vars,
}

impl<'a> Args<'a> {
    /// Checks that every key is a parameter `spec` declares (aliases
    /// included).
    pub fn new(spec: &'static Module, vars: &'a Vars) -> Result<Args<'a>, ModuleError> {
        let mut unknown: Vec<&str> = vars
            .keys()
            .map(String::as_str)
            .filter(|k| !spec.any_names && spec.canonical_param(k).is_none())
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            let mut supported: Vec<&str> = spec.all_param_names().collect();
            supported.sort_unstable();
            return Err(ModuleError::Args {
                module: spec.name.into(),
                message: format!(
                    "unsupported parameter{} {} (supported: {})",
                    if unknown.len() > 1 { "s" } else { "" },
                    unknown.join(", "),
                    supported.join(", ")
                ),
            });
        }
        Ok(Args {
            module: spec.name,
            spec,
            vars,
        })
    }

    /// An argument error for this module.
    pub fn error(&self, message: impl Into<String>) -> ModuleError {
        ModuleError::Args {
            module: self.module.into(),
            message: message.into(),
        }
    }

    /// The raw value of the first of `names` that is set, each under its
    /// name or one of its declared aliases; null counts as unset.
    pub fn value(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().find_map(|n| {
            let param = self
                .spec
                .canonical_param(n)
                .and_then(|c| self.spec.param(c));
            debug_assert!(
                param.is_some() || self.spec.any_names,
                "{} reads `{n}`, which it does not declare",
                self.module
            );
            let aliases = param.map_or(&[][..], |p| p.aliases);
            let names = param.map_or(*n, |p| p.name);
            std::iter::once(names)
                .chain(aliases.iter().copied())
                .find_map(|name| {
                    self.vars
                        .get_key_value(name)
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.as_str(), v))
                })
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.value(&[name]).is_some()
    }

    /// A string argument; numbers, booleans, lists and mappings are
    /// written out.
    pub fn str_any(&self, names: &[&str]) -> Result<Option<String>, ModuleError> {
        match self.value(names) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
            Some((_, Value::Bool(b))) => Ok(Some(if *b { "True" } else { "False" }.into())),
            // Ansible's `str()` of a list or mapping, as its type='str'
            // and type='path' conversions do (`path: "{{ item }}"` over
            // find's results names a path that does not exist).
            Some((_, v)) => Ok(Some(
                minijinja::Value::from(minijinja::value::Serde(v)).to_string(),
            )),
        }
    }

    pub fn str(&self, name: &str) -> Result<Option<String>, ModuleError> {
        self.str_any(&[name])
    }

    /// A required string (first of `names`).
    pub fn required(&self, names: &[&str]) -> Result<String, ModuleError> {
        self.str_any(names)?
            .ok_or_else(|| self.error(format!("missing required argument: {}", names[0])))
    }

    /// Ansible's booleans: true/false, yes/no, on/off, 1/0 (any case).
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.value(&[name]) {
            None => Ok(default),
            Some((_, v)) => {
                to_bool(v).ok_or_else(|| self.error(format!("{name} must be a boolean, got {v}")))
            }
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ModuleError> {
        match self.value(&[name]) {
            None => Ok(None),
            Some(_) => self.bool(name, false).map(Some),
        }
    }

    /// A number (integer or float, possibly given as a string).
    pub fn float(&self, name: &str) -> Result<Option<f64>, ModuleError> {
        match self.value(&[name]) {
            None => Ok(None),
            Some((_, Value::Number(n))) => Ok(n.as_f64()),
            Some((_, Value::String(s))) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.error(format!("{name} must be a number, got {s:?}"))),
            Some((_, v)) => Err(self.error(format!("{name} must be a number, got {v}"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ModuleError> {
        match self.float(name)? {
            Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
            Some(f) => Err(self.error(format!("{name} must be an integer, got {f}"))),
            None => Ok(None),
        }
    }

    /// A list of strings; a single string is a one-item list (a comma
    /// separated string is split, as Ansible does for `type='list'`).
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, ModuleError> {
        match self.value(&[name]) {
            None => Ok(None),
            Some((_, Value::Array(items))) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
                    _ => Err(self.error(format!("{name} must be a list of strings"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Ok(self.str(name)?.map(|s| vec![s])),
        }
    }

    /// One of a fixed set of strings.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&str],
        default: Option<&str>,
    ) -> Result<Option<String>, ModuleError> {
        match self.str(name)? {
            None => Ok(default.map(String::from)),
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(self.error(format!(
                "value of {name} must be one of: {}, got: {s}",
                choices.join(", ")
            ))),
        }
    }
}

/// Ansible's boolean conversion.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64()? {
            1.0 => Some(true),
            0.0 => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Some(true),
            "no" | "off" | "0" | "false" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A task's arguments written as a JSON object, for unit tests.
#[cfg(test)]
pub(crate) fn vars(v: Value) -> Vars {
    v.as_object().expect("arguments are a JSON object").clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::spec::{alias, p};
    use serde_json::json;

    const M: Module = Module {
        name: "m",
        params: &[p("path"), p("a"), p("b"), p("n"), alias("l", &["list"])],
        ..Module::DEFAULT
    };

    #[test]
    fn unknown_parameters_are_named() {
        let v = vars(json!({"path": "/x", "bogus": 1}));
        let err = Args::new(&M, &v).err().unwrap().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn loose_types() {
        let v = vars(json!({"a": "yes", "b": "off", "n": "30", "l": "x"}));
        let a = Args::new(&M, &v).unwrap();
        assert!(a.bool("a", false).unwrap());
        assert!(!a.bool("b", true).unwrap());
        assert_eq!(a.int("n").unwrap(), Some(30));
        assert_eq!(a.list("l").unwrap(), Some(vec!["x".to_string()]));
        assert!(a.choice("l", &["y"], None).is_err());
    }

    #[test]
    fn a_parameter_is_read_under_its_aliases() {
        let v = vars(json!({"list": "x"}));
        let a = Args::new(&M, &v).unwrap();
        assert_eq!(a.str("l").unwrap().as_deref(), Some("x"));
    }
}
