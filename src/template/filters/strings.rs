//! String filters: shell quoting and base64.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value};

use crate::template::value::{as_text, invalid};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("quote", quote);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
}

/// Python's `shlex.quote`: safe words stay as they are, anything else is
/// single-quoted (none becomes `''`).
pub fn quote(value: &Value) -> Result<String, Error> {
    let s = if value.is_none() {
        String::new()
    } else {
        as_text(value)?
    };
    if s.is_empty() {
        return Ok("''".to_string());
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.chars().all(safe) {
        return Ok(s);
    }
    Ok(format!("'{}'", s.replace('\'', r#"'"'"'"#)))
}

/// Only UTF-8 text is supported; Ansible also accepts e.g. `utf-16-le`.
fn check_encoding(kwargs: &Kwargs) -> Result<bool, Error> {
    if let Some(encoding) = kwargs.get::<Option<String>>("encoding")? {
        let e = encoding.to_lowercase().replace('_', "-");
        if e != "utf-8" && e != "utf8" {
            return Err(invalid(format!(
                "encoding {encoding:?} is not supported (only utf-8)"
            )));
        }
    }
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    Ok(urlsafe)
}

/// `'text' | b64encode` (options: `urlsafe=true`, `encoding='utf-8'`).
pub fn b64encode(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let engine = if check_encoding(&kwargs)? {
        URL_SAFE
    } else {
        STANDARD
    };
    Ok(engine.encode(as_text(value)?))
}

/// `'dGV4dA==' | b64decode`; the decoded bytes must be UTF-8 text.
pub fn b64decode(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let engine = if check_encoding(&kwargs)? {
        URL_SAFE
    } else {
        STANDARD
    };
    let encoded: String = as_text(value)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = engine
        .decode(encoded)
        .map_err(|e| invalid(format!("b64decode: not valid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded data is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn quote_matches_shlex() {
        let vars = json!({"msg": "it's here", "plain": "/etc/ssh/sshd_config", "n": null});
        assert_eq!(
            render(
                "echo {{ msg | quote }} {{ plain | quote }} {{ '' | quote }} {{ n | quote }} {{ 'a b' | quote }}",
                vars
            ),
            r#"echo 'it'"'"'s here' /etc/ssh/sshd_config '' '' 'a b'"#
        );
    }

    #[test]
    fn base64_round_trips() {
        // Ansible docs: {{ encoded | b64decode }} / {{ decoded | string | b64encode }}
        assert_eq!(
            render("{{ 'Ansible - くらとみ' | b64encode }}", json!({})),
            "QW5zaWJsZSAtIOOBj+OCieOBqOOBvw=="
        );
        assert_eq!(
            render(
                "{{ 'QW5zaWJsZSAtIOOBj+OCieOBqOOBvw==' | b64decode }}",
                json!({})
            ),
            "Ansible - くらとみ"
        );
        assert_eq!(
            render("{{ '???' | b64encode(urlsafe=true) }}", json!({})),
            "Pz8_"
        );
        assert_eq!(render("{{ 80 | b64encode }}", json!({})), "ODA=");
        assert!(render_err("{{ 'a' | b64encode(encoding='utf-16-le') }}").contains("utf-16-le"));
        assert!(render_err("{{ '%%%' | b64decode }}").contains("base64"));
    }
}
