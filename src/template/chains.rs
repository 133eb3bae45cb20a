//! Ansible's chainable undefined, for the places it matters.
//!
//! In Ansible, looking up an attribute of an undefined value gives another
//! undefined value, so `x.a.b is not defined` is true and
//! `x.a.b | default('d')` is `'d'` even when `x.a` is missing. minijinja's
//! `Strict` mode (which we keep, so that printing or testing an undefined
//! variable is an error, as in Ansible) instead fails on the `.b` lookup.
//!
//! This module rewrites an expression before it is compiled: a lookup chain
//! (`root.a[k].b`) that is the operand of `defined`/`undefined` or of
//! `default`/`d` is guarded by its prefixes, checked left to right with a
//! short-circuit `and`, so no lookup is made on an undefined parent:
//!
//! ```text
//! x.a.b is defined       ->  ((x is defined and x.a is defined) and (x.a.b is defined))
//! x.a.b is not defined   ->  (not (x is defined and x.a is defined) or (x.a.b is not defined))
//! x.a.b | default('d')   ->  (x.a.b if (x is defined and x.a is defined) else __herd_undefined__) | default('d')
//! ```
//!
//! It works on minijinja's own parse tree (spans into the source), so string
//! literals and odd spacing cannot fool it. Expressions it cannot parse are
//! left alone for the compiler to report.

use std::borrow::Cow;

use minijinja::machinery::{ast, parse_expr};

use super::walk;

/// A name no variable has: looking it up gives a plain undefined value.
const UNDEFINED: &str = "__herd_undefined__";

/// The expression with guarded lookup chains, or unchanged when it has none.
pub fn guard_chains(source: &str) -> Cow<'_, str> {
    let mentions =
        source.contains("defined") || source.contains("default") || source.contains("d(");
    if !mentions || !source.contains(['.', '[']) {
        return Cow::Borrowed(source);
    }
    let Ok(expr) = parse_expr(source) else {
        return Cow::Borrowed(source);
    };
    let mut edits = Vec::new();
    collect(&expr, source, &mut edits);
    if edits.is_empty() {
        return Cow::Borrowed(source);
    }
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(source.len() + 64);
    let mut at = 0;
    for edit in edits {
        if edit.start < at {
            continue; // nested inside an earlier edit: that one's text wins
        }
        out.push_str(&source[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(&source[at..]);
    Cow::Owned(out)
}

struct Edit {
    start: usize,
    end: usize,
    text: String,
}

fn range(span: minijinja::machinery::Span) -> (usize, usize) {
    (span.start_offset as usize, span.end_offset as usize)
}

/// The guard for a lookup chain: its proper prefixes joined by `and`, each
/// tested with `is defined`. `None` when `expr` is not a chain rooted in a
/// variable (a call or literal in it would be evaluated twice).
fn guard(expr: &ast::Expr<'_>, source: &str) -> Option<String> {
    let mut prefixes = Vec::new();
    let mut node = expr;
    loop {
        let parent = match node {
            ast::Expr::GetAttr(a) => &a.expr,
            ast::Expr::GetItem(i) => &i.expr,
            ast::Expr::Var(_) => break,
            _ => return None,
        };
        prefixes.push(range(parent.span()).1);
        node = parent;
    }
    if prefixes.is_empty() {
        return None;
    }
    // Lookup spans start at their `.`/`[`: every prefix starts at the root.
    let root = range(node.span()).0;
    let mut prefixes = prefixes
        .into_iter()
        .map(|end| source.get(root..end))
        .collect::<Option<Vec<_>>>()?;
    prefixes.reverse();
    Some(
        prefixes
            .iter()
            .map(|p| format!("{p} is defined"))
            .collect::<Vec<_>>()
            .join(" and "),
    )
}

/// Where a lookup chain's text starts: at its root variable (the spans of
/// lookups start at their `.` or `[`).
fn leftmost(expr: &ast::Expr<'_>) -> usize {
    match expr {
        ast::Expr::GetAttr(a) => leftmost(&a.expr),
        ast::Expr::GetItem(i) => leftmost(&i.expr),
        other => range(other.span()).0,
    }
}

/// A `defined`/`undefined` test on a chain, negated or not, rewritten.
fn test_edit(
    test: &ast::Test<'_>,
    span: minijinja::machinery::Span,
    negated: bool,
    source: &str,
) -> Option<Edit> {
    let wants_defined = match test.name {
        "defined" => !negated,
        "undefined" => negated,
        _ => return None,
    };
    let guard = guard(&test.expr, source)?;
    // The test's span covers only its name: the operand starts the text.
    let start = leftmost(&test.expr);
    let (_, end) = range(span);
    let original = source.get(start..end)?;
    let text = if wants_defined {
        format!("(({guard}) and ({original}))")
    } else {
        format!("(not ({guard}) or ({original}))")
    };
    Some(Edit { start, end, text })
}

fn collect(expr: &ast::Expr<'_>, source: &str, edits: &mut Vec<Edit>) {
    use ast::Expr;
    match expr {
        Expr::UnaryOp(u) => {
            // `x is not defined` parses as not(test) with the test's span.
            if let (ast::UnaryOpKind::Not, Expr::Test(t)) = (&u.op, &u.expr)
                && range(u.span()) == range(t.span())
                && let Some(edit) = test_edit(t, u.span(), true, source)
            {
                edits.push(edit);
                return;
            }
        }
        Expr::Test(t) => {
            if let Some(edit) = test_edit(t, t.span(), false, source) {
                edits.push(edit);
                return;
            }
        }
        Expr::Filter(f) => {
            if let Some(operand) = &f.expr
                && matches!(f.name, "default" | "d")
                && let Some(guard) = guard(operand, source)
            {
                let (start, end) = (leftmost(operand), range(operand.span()).1);
                if let Some(original) = source.get(start..end) {
                    edits.push(Edit {
                        start,
                        end,
                        text: format!("({original} if ({guard}) else {UNDEFINED})"),
                    });
                }
                // The operand is replaced whole; the filter's own arguments may
                // still hold chains.
                walk::call_args(&f.args).for_each(|e| collect(e, source, edits));
                return;
            }
        }
        _ => {}
    }
    walk::children(expr, |e| collect(e, source, edits));
}

#[cfg(test)]
mod tests {
    use super::guard_chains;
    use crate::template::Templates;

    fn eval(expr: &str, vars: serde_json::Value) -> Result<bool, String> {
        let vars = vars.as_object().unwrap().clone();
        Templates::new()
            .eval_bool(expr, &vars)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn chains_under_tests_and_default_are_guarded() {
        assert_eq!(
            guard_chains("x.a.b is not defined"),
            "(not (x is defined and x.a is defined) or (x.a.b is not defined))"
        );
        assert_eq!(
            guard_chains("x['a'].b | default('d') == 'd'"),
            "(x['a'].b if (x is defined and x['a'] is defined) else __herd_undefined__) | default('d') == 'd'"
        );
        // Nothing to guard: unchanged (a plain variable, a string literal).
        assert_eq!(guard_chains("x is defined"), "x is defined");
        assert_eq!(
            guard_chains("'a.b is defined' == y"),
            "'a.b is defined' == y"
        );
    }

    #[test]
    fn nested_undefined_behaves_as_in_ansible() {
        let vars = serde_json::json!({"dict_var": {"bar": {}}, "list_var": [{"foo": {}}]});
        for expr in [
            "dict_var.bar.baz.abc is not defined",
            "dict_var.baz.abc | default('DEFAULT') == 'DEFAULT'",
            "list_var.1.foo is not defined",
            "list_var[0]['foo']['bar'] | default('DEFAULT') == 'DEFAULT'",
            "not (nothing.at.all is defined)",
            "dict_var.bar is defined and dict_var.bar.x.y is undefined",
        ] {
            assert_eq!(eval(expr, vars.clone()), Ok(true), "{expr}");
        }
        // Still strict where Ansible is: using an undefined value is an error.
        let err = eval("dict_var.bar.baz.abc == 1", vars).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }
}
