//! What went wrong while rendering, and where, in words an admin can act on.

use std::fmt;

/// A template or expression that could not be rendered.
///
/// Carries the template name (a file path, or the expression itself), the
/// line and column when minijinja knows them, and — for the most common
/// mistake — the name of the undefined variable with a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// Template path, or `expression `...`` for `when:`-style expressions.
    pub name: String,
    /// 1-based line in the template, when known.
    pub line: Option<u32>,
    /// 1-based column (in characters) of the failing expression, when known.
    pub column: Option<u32>,
    /// The undefined variable (`foo` or `foo.bar`) when that is the problem.
    pub undefined: Option<String>,
    /// What went wrong.
    pub message: String,
    /// What to do about it, when we can tell.
    pub hint: Option<&'static str>,
}

const UNDEFINED_HINT: &str = "define it in vars, group_vars or host_vars, or use `| default(...)`";

impl TemplateError {
    /// An error that is not tied to a position (a bad argument to our API).
    pub(crate) fn plain(name: &str, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: name.to_string(),
            line: None,
            column: None,
            undefined: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Translates a minijinja error raised while rendering `source` (named `name`).
    pub(crate) fn from_minijinja(
        err: &minijinja::Error,
        name: &str,
        source: &str,
    ) -> TemplateError {
        let detail = err.detail().unwrap_or_default();
        let source = err.template_source().unwrap_or(source);
        let column = err
            .range()
            .filter(|r| r.start <= source.len() && source.is_char_boundary(r.start))
            .and_then(|r| u32::try_from(column_of(source, r.start)).ok());
        let undefined = undefined_name(detail);
        let (message, hint) = match (&undefined, err.kind()) {
            // A missing attribute of a defined value: say so, as Ansible does.
            (Some(var), _) => match var.rsplit_once('.') {
                Some((parent, attr)) if !attr.contains(['[', ']']) => (
                    format!("'{var}' is undefined: '{parent}' has no attribute '{attr}'"),
                    Some(UNDEFINED_HINT),
                ),
                _ => (format!("'{var}' is undefined"), Some(UNDEFINED_HINT)),
            },
            (None, minijinja::ErrorKind::UndefinedError) => (
                if detail.is_empty() {
                    "a value used here is undefined"
                } else {
                    detail
                }
                .to_string(),
                Some(UNDEFINED_HINT),
            ),
            (None, minijinja::ErrorKind::UnknownFilter) => (
                detail.to_string(),
                Some("see src/template/mod.rs for the filters herd provides"),
            ),
            (None, minijinja::ErrorKind::UnknownTest) => (
                detail.to_string(),
                Some("see src/template/mod.rs for the tests herd provides"),
            ),
            (None, kind) if detail.is_empty() => (kind.to_string(), None),
            (None, kind) => (format!("{kind}: {detail}"), None),
        };
        // A nested cause (e.g. a filter's own error) is worth showing.
        let message = match std::error::Error::source(err) {
            Some(cause) => format!("{message}: {cause}"),
            None => message,
        };
        TemplateError {
            name: err.name().unwrap_or(name).to_string(),
            line: err.line().and_then(|l| u32::try_from(l).ok()),
            column,
            undefined,
            message,
            hint,
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// minijinja names the undefined value in its detail as "`foo.bar` is undefined".
fn undefined_name(detail: &str) -> Option<String> {
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')? + 1;
    Some(detail[start..end].to_string())
}

/// 1-based column of byte `offset` within its line.
fn column_of(source: &str, offset: usize) -> usize {
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    source[line_start..offset].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_undefined_name_in_minijinja_details() {
        assert_eq!(undefined_name("`foo` is undefined").as_deref(), Some("foo"));
        assert_eq!(
            undefined_name("tried to use + operator on number and undefined (`a.b` is undefined)")
                .as_deref(),
            Some("a.b")
        );
        assert_eq!(undefined_name("something else"), None);
    }

    #[test]
    fn columns_count_characters_from_line_start() {
        assert_eq!(column_of("ab\ncdé{{ x }}", 7), 4);
        assert_eq!(column_of("{{ x }}", 3), 4);
    }

    #[test]
    fn display_names_place_problem_and_hint() {
        let err = TemplateError {
            name: "app.conf.j2".into(),
            line: Some(3),
            column: Some(8),
            undefined: Some("port".into()),
            message: "'port' is undefined".into(),
            hint: Some(UNDEFINED_HINT),
        };
        assert_eq!(
            err.to_string(),
            "app.conf.j2:3:8: 'port' is undefined (define it in vars, group_vars or host_vars, or use `| default(...)`)"
        );
    }
}
