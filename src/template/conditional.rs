//! Conditionals (`when:`, `assert`'s `that:`, `until:`...) as ansible-core
//! 2.19 reads them: an expression, where a quoted string literal may hold a
//! template (`result.cmd == '{{ dir }}/test.sh'`). Such a literal is
//! rendered to a string *value* and written back as a safely quoted
//! literal, so whatever it renders to (host output included) is compared,
//! never read as code.

use super::env::has_template;
use super::error::TemplateError;

/// An expression with its templated string literals rendered.
pub(crate) struct Rendered {
    pub expr: String,
    /// A template outside any string literal (`{{ a }} == {{ b }}`): the
    /// expression is only known after rendering it whole.
    pub template_outside_literals: bool,
}

/// Renders, with `render`, each quoted string literal of `expr` that holds
/// a template, and quotes the result again.
pub(crate) fn render_literals(
    expr: &str,
    mut render: impl FnMut(&str) -> Result<String, TemplateError>,
) -> Result<Rendered, TemplateError> {
    let mut out = String::with_capacity(expr.len());
    let mut template_outside_literals = false;
    let mut rest = expr;
    while let Some(start) = rest.find(['\'', '"']) {
        let (before, from_quote) = rest.split_at(start);
        template_outside_literals |= has_template(before);
        out.push_str(before);
        let quote = from_quote.as_bytes()[0] as char;
        let Some(len) = literal_len(&from_quote[1..], quote) else {
            // Unterminated: left for the expression parser to report.
            template_outside_literals |= has_template(from_quote);
            out.push_str(from_quote);
            return Ok(Rendered {
                expr: out,
                template_outside_literals,
            });
        };
        let content = &from_quote[1..1 + len];
        if has_template(content) {
            out.push_str(&quote_literal(&render(content)?));
        } else {
            out.push_str(&from_quote[..len + 2]);
        }
        rest = &from_quote[len + 2..];
    }
    template_outside_literals |= has_template(rest);
    out.push_str(rest);
    Ok(Rendered {
        expr: out,
        template_outside_literals,
    })
}

/// Length of a literal's content up to its closing `quote` (backslash
/// escapes skipped), or None when it never closes.
fn literal_len(text: &str, quote: char) -> Option<usize> {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            c if c == quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// `text` as a single-quoted Jinja string literal that reads back exactly.
fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(s: &str) -> Result<String, TemplateError> {
        Ok(s.to_uppercase())
    }

    #[test]
    fn only_literals_holding_a_template_are_rendered() {
        let r = render_literals(r#"a == '{{ x }}/b' and c == "plain" and d"#, upper).unwrap();
        assert_eq!(r.expr, r#"a == '{{ X }}/B' and c == "plain" and d"#);
        assert!(!r.template_outside_literals);
        let r = render_literals("{{ a }} == 'x'", upper).unwrap();
        assert!(r.template_outside_literals);
        // A quote inside the other kind of literal, and an escaped one.
        let r = render_literals(r#"a == "it's {{ x }}" or b == 'a\'b'"#, upper).unwrap();
        assert_eq!(r.expr, r#"a == 'IT\'S {{ X }}' or b == 'a\'b'"#);
    }

    #[test]
    fn rendered_text_reads_back_as_the_same_string() {
        let env = minijinja::Environment::new();
        for text in [
            "plain",
            "it's",
            r"back\slash",
            "{{ lookup('pipe', 'id') }}",
            "line\nbreak\ttab\r\u{1b}[31m",
            "' or lookup('pipe', 'id') or '",
        ] {
            let expr = env
                .compile_expression_owned(quote_literal(text))
                .expect("a valid literal");
            let value = expr.eval(()).unwrap();
            assert_eq!(value.as_str(), Some(text), "{text:?}");
        }
    }
}
