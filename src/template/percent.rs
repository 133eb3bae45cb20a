//! Python's `%` operator on strings: `"%s-%02d" % (name, n)`.
//!
//! Ansible's Jinja runs on Python, so `%` on a string formats it (printf
//! style, `%(key)s` from a dict) and on numbers is the modulo. minijinja's
//! `%` is the modulo only, so before an expression or template is compiled
//! every `%` operator is rewritten into a call of [`FUNCTION`], which does
//! both as Python does:
//!
//! ```text
//! "%s/x" % (dir)          ->  __herd_percent(("%s/x"), ((dir)))
//! ```
//!
//! Like `chains`, it works on minijinja's parse tree (spans into the
//! source), so a `%` inside a string literal or a `{% %}` delimiter is never
//! touched. Sources it cannot parse are left alone for the compiler to
//! report.

use std::borrow::Cow;
use std::fmt::Write;

use minijinja::machinery::{ast, parse, parse_expr};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::walk;

/// The function a `%` operator becomes.
pub const FUNCTION: &str = "__herd_percent";

/// An expression with its `%` operators rewritten (unchanged without any).
pub fn rewrite_expr(source: &str) -> Cow<'_, str> {
    if !source.contains('%') {
        return Cow::Borrowed(source);
    }
    let Ok(expr) = parse_expr(source) else {
        return Cow::Borrowed(source);
    };
    let mut ops = Vec::new();
    expr_ops(&expr, source, &mut ops);
    apply(source, ops)
}

/// A template with its `%` operators rewritten (unchanged without any).
pub fn rewrite_template<'s>(source: &'s str, syntax: &SyntaxConfig) -> Cow<'s, str> {
    // Every `%` may be a delimiter's: only parse when one is left.
    let rest = source.replace("{%", "").replace("%}", "");
    if !rest.contains('%') && !source.contains("{%-") {
        return Cow::Borrowed(source);
    }
    let Ok(stmt) = parse(source, "<template>", syntax.clone()) else {
        return Cow::Borrowed(source);
    };
    let mut ops = Vec::new();
    stmt_ops(&stmt, source, &mut ops);
    apply(source, ops)
}

/// One `%` operator: where its text starts, where the `%` is, where it ends.
struct Op {
    start: usize,
    percent: usize,
    end: usize,
}

/// The source with each operator `L % R` replaced by `FUNCTION((L), (R))`.
/// Operators nest, so this inserts text at three points per operator:
/// where several meet, an outer operator opens before and closes after an
/// inner one.
fn apply(source: &str, ops: Vec<Op>) -> Cow<'_, str> {
    if ops.is_empty() {
        return Cow::Borrowed(source);
    }
    // (offset, order at that offset, text, bytes of the source replaced)
    let mut inserts: Vec<(usize, (u8, isize), String, usize)> = Vec::new();
    for op in &ops {
        let len = (op.end - op.start) as isize;
        inserts.push((op.start, (2, -len), format!("{FUNCTION}(("), 0));
        inserts.push((op.percent, (1, 0), "), (".to_string(), 1));
        inserts.push((op.end, (0, len), "))".to_string(), 0));
    }
    inserts.sort_by_key(|(at, order, ..)| (*at, *order));
    let mut out = String::with_capacity(source.len() + 32 * ops.len());
    let mut at = 0;
    for (offset, _, text, skip) in inserts {
        let Some(before) = source.get(at..offset) else {
            return Cow::Borrowed(source);
        };
        out.push_str(before);
        out.push_str(&text);
        at = offset + skip;
    }
    out.push_str(&source[at..]);
    Cow::Owned(out)
}

fn start_of(expr: &ast::Expr<'_>) -> usize {
    // Postfix nodes' spans start at their `.`, `[`, `|` or `(`.
    match expr {
        ast::Expr::GetAttr(a) => start_of(&a.expr),
        ast::Expr::GetItem(i) => start_of(&i.expr),
        ast::Expr::Slice(s) => start_of(&s.expr),
        ast::Expr::Call(c) => start_of(&c.expr),
        ast::Expr::Filter(f) => match &f.expr {
            Some(e) => start_of(e).min(f.span().start_offset as usize),
            None => f.span().start_offset as usize,
        },
        ast::Expr::Test(t) => start_of(&t.expr),
        other => other.span().start_offset as usize,
    }
}

fn expr_ops(expr: &ast::Expr<'_>, source: &str, ops: &mut Vec<Op>) {
    if let ast::Expr::BinOp(b) = expr
        && matches!(b.op, ast::BinOpKind::Rem)
    {
        let span = b.span();
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        let right = start_of(&b.right);
        if let Some(percent) = source.get(start..right).and_then(|s| s.rfind('%')) {
            ops.push(Op {
                start,
                percent: start + percent,
                end,
            });
        }
    }
    walk::children(expr, |e| expr_ops(e, source, ops));
}

fn args_ops(args: &[ast::CallArg<'_>], source: &str, ops: &mut Vec<Op>) {
    walk::call_args(args).for_each(|e| expr_ops(e, source, ops));
}

fn body_ops(body: &[ast::Stmt<'_>], source: &str, ops: &mut Vec<Op>) {
    body.iter().for_each(|s| stmt_ops(s, source, ops));
}

fn stmt_ops(stmt: &ast::Stmt<'_>, source: &str, ops: &mut Vec<Op>) {
    use ast::Stmt;
    match stmt {
        Stmt::Template(t) => body_ops(&t.children, source, ops),
        Stmt::EmitExpr(e) => expr_ops(&e.expr, source, ops),
        Stmt::ForLoop(f) => {
            expr_ops(&f.iter, source, ops);
            if let Some(e) = &f.filter_expr {
                expr_ops(e, source, ops);
            }
            body_ops(&f.body, source, ops);
            body_ops(&f.else_body, source, ops);
        }
        Stmt::IfCond(i) => {
            expr_ops(&i.expr, source, ops);
            body_ops(&i.true_body, source, ops);
            body_ops(&i.false_body, source, ops);
        }
        Stmt::WithBlock(w) => {
            for (_, e) in &w.assignments {
                expr_ops(e, source, ops);
            }
            body_ops(&w.body, source, ops);
        }
        Stmt::Set(s) => expr_ops(&s.expr, source, ops),
        Stmt::SetBlock(s) => {
            if let Some(e) = &s.filter {
                expr_ops(e, source, ops);
            }
            body_ops(&s.body, source, ops);
        }
        Stmt::AutoEscape(a) => body_ops(&a.body, source, ops),
        Stmt::FilterBlock(f) => {
            expr_ops(&f.filter, source, ops);
            body_ops(&f.body, source, ops);
        }
        Stmt::Block(b) => body_ops(&b.body, source, ops),
        Stmt::Macro(m) => {
            m.defaults.iter().for_each(|e| expr_ops(e, source, ops));
            body_ops(&m.body, source, ops);
        }
        Stmt::CallBlock(c) => {
            expr_ops(&c.call.expr, source, ops);
            args_ops(&c.call.args, source, ops);
            m_ops(&c.macro_decl, source, ops);
        }
        Stmt::Do(d) => {
            expr_ops(&d.call.expr, source, ops);
            args_ops(&d.call.args, source, ops);
        }
        Stmt::Include(i) => expr_ops(&i.name, source, ops),
        Stmt::Extends(e) => expr_ops(&e.name, source, ops),
        Stmt::Import(i) => expr_ops(&i.expr, source, ops),
        Stmt::FromImport(f) => expr_ops(&f.expr, source, ops),
        Stmt::EmitRaw(_) => {}
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

fn m_ops(m: &ast::Spanned<ast::Macro<'_>>, source: &str, ops: &mut Vec<Op>) {
    m.defaults.iter().for_each(|e| expr_ops(e, source, ops));
    body_ops(&m.body, source, ops);
}

/// `left % right` as Python computes it.
pub fn percent(left: &Value, right: &Value) -> Result<Value, Error> {
    if right.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    if let Some(format) = left.as_str() {
        return format_string(format, right).map(Value::from);
    }
    modulo(left, right)
}

fn type_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python's type name of a value, for errors.
fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Map => "dict",
        ValueKind::Seq if v.is_tuple() => "tuple",
        ValueKind::Seq => "list",
        _ => "object",
    }
}

/// Python's modulo on numbers: the result takes the divisor's sign.
fn modulo(left: &Value, right: &Value) -> Result<Value, Error> {
    let int = |v: &Value| match v.kind() {
        ValueKind::Bool => Some(i64::from(v.is_true())),
        ValueKind::Number if v.is_integer() => v.as_i64(),
        _ => None,
    };
    let unsupported = || {
        type_error(format!(
            "unsupported operand type(s) for %: '{}' and '{}'",
            type_name(left),
            type_name(right)
        ))
    };
    if let (Some(a), Some(b)) = (int(left), int(right)) {
        if b == 0 {
            return Err(type_error("integer modulo by zero"));
        }
        let r = a.checked_rem_euclid(b).unwrap_or(0);
        return Ok(Value::from(if b < 0 && r != 0 { r + b } else { r }));
    }
    let (Some(a), Some(b)) = (real(left), real(right)) else {
        return Err(unsupported());
    };
    if b == 0.0 {
        return Err(type_error("float modulo"));
    }
    let r = a - b * (a / b).floor();
    Ok(Value::from(r))
}

/// A number (or bool) as a float.
fn real(v: &Value) -> Option<f64> {
    match v.kind() {
        ValueKind::Bool => Some(f64::from(u8::from(v.is_true()))),
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        _ => None,
    }
}

/// The arguments of a format: a tuple's items, or one value (a dict also
/// serves `%(key)s`).
struct FormatArgs<'a> {
    items: Vec<Value>,
    next: usize,
    mapping: Option<&'a Value>,
}

impl FormatArgs<'_> {
    fn next(&mut self) -> Result<Value, Error> {
        let item = self
            .items
            .get(self.next)
            .cloned()
            .ok_or_else(|| type_error("not enough arguments for format string"))?;
        self.next += 1;
        Ok(item)
    }
}

/// `format % args` for a string `format`, as Python's printf-style
/// formatting: `%[(key)][flags][width][.precision]type`.
pub fn format_string(format: &str, args: &Value) -> Result<String, Error> {
    let is_tuple = args.is_tuple();
    let mut args = FormatArgs {
        items: if is_tuple {
            args.try_iter()?.collect()
        } else {
            vec![args.clone()]
        },
        next: 0,
        mapping: (args.kind() == ValueKind::Map).then_some(args),
    };
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let incomplete = || type_error("incomplete format");
        let mut spec = Spec::default();
        let mut keyed = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            // The key runs to the matching `)`, nested ones included.
            let mut depth = 1;
            let mut key = String::new();
            loop {
                let k = chars
                    .next()
                    .ok_or_else(|| type_error("incomplete format key"))?;
                match k {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                key.push(k);
            }
            keyed = Some(key);
        }
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.left = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alternate = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars, &mut args)?;
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(number(&mut chars, &mut args)?.unwrap_or(0));
        }
        while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
            chars.next();
        }
        let kind = chars.next().ok_or_else(incomplete)?;
        if kind == '%' {
            out.push('%');
            continue;
        }
        let value = match &keyed {
            Some(key) => {
                let map = args
                    .mapping
                    .ok_or_else(|| type_error("format requires a mapping"))?;
                let value = map.get_item(&Value::from(key.as_str()))?;
                if value.is_undefined() {
                    return Err(type_error(format!("KeyError: '{key}'")));
                }
                value
            }
            None => args.next()?,
        };
        spec.kind = kind;
        out.push_str(&spec.render(&value)?);
    }
    if args.mapping.is_none() && args.next < args.items.len() {
        return Err(type_error(
            "not all arguments converted during string formatting",
        ));
    }
    Ok(out)
}

/// A width or precision: digits, or `*` (taken from the arguments).
fn number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &mut FormatArgs<'_>,
) -> Result<Option<usize>, Error> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = args.next()?;
        return n
            .as_i64()
            .filter(|_| n.is_integer())
            .map(|n| Some(n.max(0) as usize))
            .ok_or_else(|| type_error("* wants int"));
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
    }
    Ok(n)
}

/// One conversion's flags, width, precision and type.
#[derive(Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alternate: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
    kind: char,
}

impl Spec {
    fn render(&self, value: &Value) -> Result<String, Error> {
        let numeric = |text: String, negative: bool| self.pad_number(text, negative);
        match self.kind {
            's' | 'r' | 'a' => {
                let mut text = if self.kind == 's' {
                    py_str(value)
                } else {
                    py_repr(value)
                };
                if let Some(p) = self.precision {
                    text = text.chars().take(p).collect();
                }
                Ok(self.pad_text(text))
            }
            'd' | 'i' | 'u' => {
                let n = match value.kind() {
                    ValueKind::Bool => i128::from(value.is_true()),
                    ValueKind::Number if value.is_integer() => i128::try_from(value.clone())
                        .map_err(|_| self.not_a_number(value, "a real number"))?,
                    ValueKind::Number => real(value).unwrap_or(0.0).trunc() as i128,
                    _ => return Err(self.not_a_number(value, "a real number")),
                };
                let mut digits = n.unsigned_abs().to_string();
                if let Some(p) = self.precision {
                    digits = format!("{digits:0>p$}");
                }
                Ok(numeric(digits, n < 0))
            }
            'o' | 'x' | 'X' => {
                let n = match value.kind() {
                    ValueKind::Bool => i128::from(value.is_true()),
                    ValueKind::Number if value.is_integer() => i128::try_from(value.clone())
                        .map_err(|_| self.not_a_number(value, "an integer"))?,
                    _ => return Err(self.not_a_number(value, "an integer")),
                };
                let abs = n.unsigned_abs();
                let mut digits = match self.kind {
                    'o' => format!("{abs:o}"),
                    'x' => format!("{abs:x}"),
                    _ => format!("{abs:X}"),
                };
                if let Some(p) = self.precision {
                    digits = format!("{digits:0>p$}");
                }
                if self.alternate {
                    digits = format!("0{}{digits}", self.kind);
                }
                Ok(numeric(digits, n < 0))
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
                let x = real(value).ok_or_else(|| self.not_a_number(value, "a real number"))?;
                let text = float_text(
                    x.abs(),
                    self.kind,
                    self.precision.unwrap_or(6),
                    self.alternate,
                );
                Ok(numeric(text, x.is_sign_negative() && !x.is_nan()))
            }
            'c' => {
                let c = match value.kind() {
                    ValueKind::String if value.as_str().map(|s| s.chars().count()) == Some(1) => {
                        value.as_str().and_then(|s| s.chars().next())
                    }
                    ValueKind::Number if value.is_integer() => value
                        .as_i64()
                        .and_then(|n| u32::try_from(n).ok())
                        .and_then(char::from_u32),
                    _ => None,
                };
                let c = c.ok_or_else(|| type_error("%c requires int or char"))?;
                Ok(self.pad_text(c.to_string()))
            }
            other => Err(type_error(format!(
                "unsupported format character '{other}' (0x{:x})",
                other as u32
            ))),
        }
    }

    fn not_a_number(&self, value: &Value, what: &str) -> Error {
        type_error(format!(
            "%{} format: {what} is required, not {}",
            self.kind,
            type_name(value)
        ))
    }

    fn pad_text(&self, text: String) -> String {
        let width = self.width.unwrap_or(0);
        if self.left {
            format!("{text:<width$}")
        } else {
            format!("{text:>width$}")
        }
    }

    /// Sign, then zero padding (with `0` and no `-`) or space padding.
    fn pad_number(&self, digits: String, negative: bool) -> String {
        let sign = if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        };
        let width = self.width.unwrap_or(0);
        let len = sign.len() + digits.chars().count();
        if len >= width {
            return format!("{sign}{digits}");
        }
        let fill = width - len;
        if self.left {
            format!("{sign}{digits}{}", " ".repeat(fill))
        } else if self.zero && digits.starts_with(|c: char| c.is_ascii_digit()) {
            // With a prefix such as 0x, zeros go after it.
            let (prefix, rest) = match digits.get(..2) {
                Some(p @ ("0x" | "0X" | "0o")) => (p.to_string(), digits[2..].to_string()),
                _ => (String::new(), digits.clone()),
            };
            format!("{sign}{prefix}{}{rest}", "0".repeat(fill))
        } else {
            format!("{}{sign}{digits}", " ".repeat(fill))
        }
    }
}

/// A non-negative float in `%e`, `%f` or `%g` style with `precision`.
fn float_text(x: f64, kind: char, precision: usize, alternate: bool) -> String {
    if x.is_nan() {
        return if kind.is_ascii_uppercase() {
            "NAN"
        } else {
            "nan"
        }
        .to_string();
    }
    if x.is_infinite() {
        return if kind.is_ascii_uppercase() {
            "INF"
        } else {
            "inf"
        }
        .to_string();
    }
    let text = match kind {
        'f' | 'F' => {
            let mut t = format!("{x:.precision$}");
            if alternate && precision == 0 {
                t.push('.');
            }
            t
        }
        'e' | 'E' => exponent(x, precision, alternate),
        _ => {
            // %g: %e if the exponent is < -4 or >= precision, else %f;
            // trailing zeros dropped unless `#`.
            let p = precision.max(1);
            let exp = if x == 0.0 {
                0
            } else {
                // The exponent after rounding to p significant digits.
                let e = exponent(x, p - 1, false);
                e.rsplit('e')
                    .next()
                    .and_then(|e| e.parse::<i32>().ok())
                    .unwrap_or(0)
            };
            let mut t = if exp < -4 || exp >= p as i32 {
                exponent(x, p - 1, alternate)
            } else {
                let decimals = (p as i32 - 1 - exp).max(0) as usize;
                format!("{x:.decimals$}")
            };
            if !alternate {
                t = strip_zeros(&t);
            }
            t
        }
    };
    if kind.is_ascii_uppercase() {
        text.to_uppercase()
    } else {
        text
    }
}

/// `d.ddde+XX` with `precision` decimals (Python: at least 2 exponent digits).
fn exponent(x: f64, precision: usize, alternate: bool) -> String {
    let t = format!("{x:.precision$e}");
    let (mantissa, exp) = t.split_once('e').unwrap_or((&t, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let dot = if alternate && precision == 0 { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{dot}e{sign}{:02}", exp.abs())
}

/// `1.500` -> `1.5`, `2.000e+10` -> `2e+10`.
fn strip_zeros(t: &str) -> String {
    let (mantissa, exp) = match t.find('e') {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{mantissa}{exp}")
}

/// Python's `str()` of a value.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => py_repr(v),
    }
}

/// Python's `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number if v.is_integer() => v.to_string(),
        ValueKind::Number => py_float(real(v).unwrap_or(0.0)),
        ValueKind::String => py_str_repr(v.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|i| py_repr(&i)).collect())
                .unwrap_or_default();
            if v.is_tuple() {
                if items.len() == 1 {
                    format!("({},)", items[0])
                } else {
                    format!("({})", items.join(", "))
                }
            } else {
                format!("[{}]", items.join(", "))
            }
        }
        ValueKind::Map => {
            let mut out = String::from("{");
            if let Ok(keys) = v.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let value = v.get_item(&key).unwrap_or_default();
                    let _ = write!(out, "{}: {}", py_repr(&key), py_repr(&value));
                }
            }
            out.push('}');
            out
        }
        _ => v.to_string(),
    }
}

/// Python's repr of a float: the shortest text that reads back, with
/// `1e+16` style exponents.
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's Debug switches to exponents at the same points as Python.
    let t = format!("{x:?}");
    match t.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{m}e{sign}{:02}", exp.abs())
        }
        None => t,
    }
}

/// Python's repr of a string: single quotes unless it holds one and no
/// double quote.
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::{rewrite_expr, rewrite_template};
    use crate::template::Templates;
    use serde_json::json;

    fn eval(expr: &str, vars: serde_json::Value) -> Result<serde_json::Value, String> {
        Templates::new()
            .eval(expr, vars.as_object().unwrap())
            .map_err(|e| e.to_string())
    }

    fn text(expr: &str) -> String {
        match eval(expr, json!({})) {
            Ok(serde_json::Value::String(s)) => s,
            other => panic!("{expr}: {other:?}"),
        }
    }

    #[test]
    fn percent_operators_become_calls_and_nothing_else_changes() {
        assert_eq!(
            rewrite_expr("'%s/x' % (d)"),
            "__herd_percent(('%s/x' ), ( (d)))"
        );
        assert_eq!(
            rewrite_expr("a%b%c"),
            "__herd_percent((__herd_percent((a), (b))), (c))"
        );
        assert_eq!(rewrite_expr("'100%' ~ x"), "'100%' ~ x");
        let syntax = crate::template::env::default_syntax();
        let plain = "{% if a %}{{ '50%' }}{%- endif %}";
        assert_eq!(rewrite_template(plain, &syntax), plain);
        assert_eq!(
            rewrite_template("{% set x = 'n%d' % n %}{{ x }}", &syntax),
            "{% set x = __herd_percent(('n%d' ), ( n)) %}{{ x }}"
        );
    }

    #[test]
    fn strings_format_as_python_does() {
        for (expr, want) in [
            (
                "'Failed to read %s/h.gbk: %s' % (dir, 'utf-8')",
                "Failed to read /t/h.gbk: utf-8",
            ),
            ("'%s/x' % (dir)", "/t/x"),
            (
                "'%05.2f|%.3f|%f' % (3.14159, 2, 1.5)",
                "03.14|2.000|1.500000",
            ),
            (
                "'%d %i %5d|%-5d|%05d|%+d|% d' % (3.9, -2, 42, 42, -42, 5, 5)",
                "3 -2    42|42   |-0042|+5| 5",
            ),
            (
                "'%s %s %s %s' % (true, none, 1.0, 1e20)",
                "True None 1.0 1e+20",
            ),
            ("'%r %r' % ('a', \"it's\")", "'a' \"it's\""),
            ("'%s' % [1, 'a', {'k': none}]", "[1, 'a', {'k': None}]"),
            ("'%s' % ((1, 2),)", "(1, 2)"),
            (
                "'%(name)s is %(age)03d' % {'name': 'x', 'age': 7}",
                "x is 007",
            ),
            ("'%s' % {'a': 1}", "{'a': 1}"),
            (
                "'%x %X %#x %#o %o' % (255, 255, 255, 8, 8)",
                "ff FF 0xff 0o10 10",
            ),
            (
                "'%e|%E|%.2e' % (12345.678, 0.5, 0)",
                "1.234568e+04|5.000000E-01|0.00e+00",
            ),
            (
                "'%g|%g|%g|%g|%.3g' % (0.00001234, 123456789.0, 100.0, 0.5, 2.5e-5)",
                "1.234e-05|1.23457e+08|100|0.5|2.5e-05",
            ),
            (
                "'%c%c|%.2s|%5s|%-3s|' % (72, 'i', 'abc', 'ab', 'x')",
                "Hi|ab|   ab|x  |",
            ),
            ("'100%% of %s' % 'it'", "100% of it"),
            ("'a' ~ '%s' % 'b'", "ab"),
            ("('%s-%s' % ('a', 'b')) | upper", "A-B"),
            ("'%*d|%.*f' % (4, 7, 1, 2.25)", "   7|2.2"),
        ] {
            let got = eval(expr, json!({"dir": "/t"})).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(got, json!(want), "{expr}");
        }
        assert_eq!(text("'%s' % ''"), "");
    }

    #[test]
    fn numbers_keep_pythons_modulo() {
        for (expr, want) in [
            ("7 % 3", json!(1)),
            ("-7 % 3", json!(2)),
            ("7 % -3", json!(-2)),
            ("-7 % -3", json!(-1)),
            ("7.5 % 2", json!(1.5)),
            ("-1.5 % 1", json!(0.5)),
            ("n % 2 == 0", json!(true)),
        ] {
            assert_eq!(eval(expr, json!({"n": 4})), Ok(want), "{expr}");
        }
    }

    #[test]
    fn format_errors_are_pythons() {
        for (expr, want) in [
            ("'%s %s' % ('a',)", "not enough arguments"),
            ("'%s' % ('a', 'b')", "not all arguments converted"),
            ("'x' % 5", "not all arguments converted"),
            (
                "'%d' % 'x'",
                "%d format: a real number is required, not str",
            ),
            ("'%x' % 1.5", "%x format: an integer is required, not float"),
            ("'%(a)s' % ('x',)", "format requires a mapping"),
            ("'%(a)s' % {'b': 1}", "KeyError"),
            ("'%y' % 1", "unsupported format character 'y'"),
            ("'%' % 1", "incomplete format"),
            ("1 % 0", "modulo by zero"),
            (
                "[1] % 2",
                "unsupported operand type(s) for %: 'list' and 'int'",
            ),
        ] {
            let err = eval(expr, json!({})).unwrap_err();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn templates_and_task_values_format_too() {
        let t = Templates::new();
        let vars = json!({"n": 5, "host": "web1"});
        let vars = vars.as_object().unwrap();
        let out = t
            .render_value(&json!("id: {{ '%s-%03d' % (host, n) }}!"), vars)
            .unwrap();
        assert_eq!(out, json!("id: web1-005!"));
        let out = t
            .render_file(
                "t.j2",
                "{% set x = '%02d' % n %}{{ x }} {% if n % 2 %}odd{% endif %} 100%\n",
                vars,
            )
            .unwrap();
        assert_eq!(out, "05 odd 100%\n");
    }
}
