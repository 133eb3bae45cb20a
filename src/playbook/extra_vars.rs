//! `-e` / `--extra-vars`: `key=value key2=v2`, inline YAML/JSON
//! (`'{"version": "1.4"}'`) or `@file.yml`. Extra vars are the highest
//! precedence of all, as in Ansible.

use std::path::Path;

use serde_json::Value;

use super::error::PlaybookError;
use super::located;
use super::model::Vars;
use super::source::Source;

/// Parses one `-e` argument; `@file` paths are relative to `cwd`.
pub fn parse_extra_vars(arg: &str, cwd: &Path) -> Result<Vars, PlaybookError> {
    let bad = |message: String| PlaybookError::ExtraVars {
        arg: arg.to_string(),
        message,
    };
    let trimmed = arg.trim();
    if let Some(file) = trimmed.strip_prefix('@') {
        let path = cwd.join(file);
        let (source, node) = Source::read(&path, None)?;
        return match node.to_json() {
            Value::Object(vars) => Ok(vars),
            Value::Null => Ok(Vars::new()),
            _ => Err(source.error(
                node.mark,
                format!(
                    "extra vars file must be a mapping, found {}",
                    node.type_name()
                ),
            )),
        };
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let node = located::parse(trimmed, Path::new("-e"))?;
        return match node.to_json() {
            Value::Object(vars) => Ok(vars),
            _ => Err(bad(format!(
                "must be a mapping such as '{{\"key\": \"value\"}}', found {}",
                node.type_name()
            ))),
        };
    }
    let parsed = super::kv::parse(trimmed, None);
    if !parsed.raw.is_empty() {
        return Err(bad(format!(
            "`{}` is not key=value; use key=value words, a JSON/YAML mapping or @file",
            parsed.raw
        )));
    }
    Ok(parsed.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_words() {
        let vars = parse_extra_vars("version=1.4.2 env='prod eu'", Path::new(".")).unwrap();
        assert_eq!(vars["version"], "1.4.2");
        assert_eq!(vars["env"], "prod eu");
    }

    #[test]
    fn inline_json_keeps_types() {
        let vars = parse_extra_vars(r#"{"n": 3, "on": true, "l": [1]}"#, Path::new(".")).unwrap();
        assert_eq!(vars["n"], 3);
        assert_eq!(vars["on"], true);
        assert_eq!(vars["l"][0], 1);
    }

    #[test]
    fn files_are_relative_to_cwd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.yml"), "a: 1\nb: [x]\n").unwrap();
        let vars = parse_extra_vars("@x.yml", dir.path()).unwrap();
        assert_eq!(vars["a"], 1);
        let err = parse_extra_vars("@missing.yml", dir.path()).unwrap_err();
        assert!(err.to_string().contains("missing.yml"), "{err}");
    }

    #[test]
    fn words_without_equals_are_errors() {
        let err = parse_extra_vars("version", Path::new(".")).unwrap_err();
        assert!(err.to_string().starts_with("-e version: "), "{err}");
    }
}
