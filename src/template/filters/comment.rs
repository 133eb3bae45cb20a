//! Ansible's `comment` filter: wraps text in comment decoration, as templates
//! do with `{{ ansible_managed | comment }}`. Styles: plain (`# `, the
//! default), erlang (`% `), c (`// `), cblock (`/* * */`) and xml
//! (`<!-- - -->`); the keyword arguments `decoration`, `beginning`, `prefix`,
//! `prefix_count`, `postfix`, `postfix_count`, `end` and `newline` override
//! the style's parts.

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::template::value::as_text;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("comment", comment);
}

/// (beginning, decoration, end) of a style.
fn style(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match name {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        _ => return None,
    })
}

pub fn comment(value: &Value, style_name: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let text = as_text(value)?;
    let name = style_name.unwrap_or_else(|| "plain".into());
    let Some((beginning, decoration, end)) = style(&name) else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("comment: unknown style `{name}` (plain, erlang, c, cblock, xml)"),
        ));
    };
    let text_arg = |key: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs
            .get::<Option<String>>(key)?
            .unwrap_or_else(|| default.to_string()))
    };
    let count_arg =
        |key: &str| -> Result<usize, Error> { Ok(kwargs.get::<Option<usize>>(key)?.unwrap_or(1)) };
    let decoration = text_arg("decoration", decoration)?;
    let newline = text_arg("newline", "\n")?;
    let beginning = text_arg("beginning", beginning)?;
    let end = text_arg("end", end)?;
    let prefix = text_arg("prefix", decoration.trim_end())?;
    let postfix = text_arg("postfix", decoration.trim_end())?;
    let prefix_count = count_arg("prefix_count")?;
    let postfix_count = count_arg("postfix_count")?;
    kwargs.assert_all_used()?;

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        for _ in 0..prefix_count {
            if prefix != newline {
                out.push_str(&prefix);
            }
            out.push_str(&newline);
        }
    }
    // Every line gets the decoration; an empty line followed by another
    // gets it without trailing blanks.
    let lines: Vec<&str> = text.split(newline.as_str()).collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        if line.is_empty() && !last {
            out.push_str(decoration.trim_end());
        } else {
            out.push_str(&decoration);
            out.push_str(line);
        }
        if !last {
            out.push_str(&newline);
        }
    }
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn plain_is_the_default_and_frames_the_text() {
        assert_eq!(
            render("{{ 'Ansible managed' | comment }}", json!({})),
            "#\n# Ansible managed\n#"
        );
        assert_eq!(
            render("{{ 'a\n\nb' | comment }}", json!({})),
            "#\n# a\n#\n# b\n#"
        );
    }

    #[test]
    fn styles_and_overrides() {
        assert_eq!(
            render("{{ 'x' | comment('c') }}", json!({})),
            "//\n// x\n//"
        );
        assert_eq!(
            render("{{ 'x' | comment('cblock') }}", json!({})),
            "/*\n *\n * x\n *\n */"
        );
        assert_eq!(
            render("{{ 'x' | comment('xml') }}", json!({})),
            "<!--\n -\n - x\n -\n-->"
        );
        assert_eq!(
            render("{{ 'x' | comment(decoration='; ') }}", json!({})),
            ";\n; x\n;"
        );
        assert_eq!(
            // An empty postfix still ends the text's line, as in Ansible.
            render("{{ 'x' | comment(prefix='', postfix='') }}", json!({})),
            "# x\n"
        );
        assert!(render_err("{{ 'x' | comment('lisp') }}").contains("unknown style"));
    }
}
