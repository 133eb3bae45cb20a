//! Type conversions with Ansible's (Python's) rules rather than minijinja's.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::template::value::invalid;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", to_bool);
    env.add_filter("int", to_int);
    env.add_filter("float", to_float);
    env.add_filter("ternary", ternary);
    env.add_filter("mandatory", mandatory);
    env.add_filter("type_debug", type_debug);
}

/// Ansible's `bool`: "yes"/"on"/"true"/"1" (any case) and 1 are true;
/// "no"/"off"/"false"/"0" and 0 are false. Other values are false (Ansible
/// deprecates them, with the same result).
pub fn to_bool(value: &Value) -> Result<bool, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`bool` got an undefined value",
        ));
    }
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true(),
        ValueKind::String => matches!(
            value.as_str().unwrap_or_default().to_lowercase().as_str(),
            "yes" | "on" | "true" | "1"
        ),
        ValueKind::Number => {
            value.as_i64() == Some(1) || f64::try_from(value.clone()).ok() == Some(1.0)
        }
        _ => false,
    })
}

/// Jinja2's `int(default=0, base=10)`: strings are parsed as integers, then
/// as floats (truncated); anything unparseable gives `default`, as in Ansible
/// (minijinja would fail instead).
pub fn to_int(
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = kwargs
        .get::<Option<Value>>("default")?
        .or(default)
        .unwrap_or(Value::from(0));
    let base = kwargs.get::<Option<u32>>("base")?.or(base).unwrap_or(10);
    kwargs.assert_all_used()?;
    if !(2..=36).contains(&base) {
        return Err(invalid(format!("int: base {base} is not between 2 and 36")));
    }
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(i64::from(value.is_true())),
        ValueKind::Number if value.is_integer() => value.clone(),
        ValueKind::Number => f64::try_from(value.clone())
            .map(|f| Value::from(f.trunc() as i64))
            .unwrap_or(default),
        ValueKind::String => parse_int(value.as_str().unwrap_or_default(), base).unwrap_or(default),
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "`int` got an undefined value",
            ));
        }
        _ => default,
    })
}

fn parse_int(s: &str, base: u32) -> Option<Value> {
    let s = s.trim().replace('_', "");
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest.to_string()),
        None => (1, s.strip_prefix('+').unwrap_or(&s).to_string()),
    };
    let lower = digits.to_lowercase();
    let digits = match base {
        16 => lower.strip_prefix("0x").unwrap_or(&lower),
        8 => lower.strip_prefix("0o").unwrap_or(&lower),
        2 => lower.strip_prefix("0b").unwrap_or(&lower),
        _ => &lower,
    };
    if let Ok(n) = i64::from_str_radix(digits, base) {
        return Some(Value::from(sign * n));
    }
    if base == 10 {
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| Value::from(f.trunc() as i64));
    }
    None
}

/// Jinja2's `float(default=0.0)`: unparseable values give `default`.
pub fn to_float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = kwargs
        .get::<Option<Value>>("default")?
        .or(default)
        .unwrap_or(Value::from(0.0));
    kwargs.assert_all_used()?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone())
            .map(Value::from)
            .unwrap_or(default),
        ValueKind::String => value
            .as_str()
            .unwrap_or_default()
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(default),
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "`float` got an undefined value",
            ));
        }
        _ => default,
    })
}

/// `cond | ternary(a, b, none_val)`: `a` if true, `b` if false, and
/// `none_val` (when given) if `cond` is none.
pub fn ternary(
    value: &Value,
    if_true: Value,
    if_false: Value,
    if_none: Option<Value>,
) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`ternary` got an undefined value",
        ));
    }
    Ok(match if_none {
        Some(none_val) if value.is_none() => none_val,
        _ if value.is_true() => if_true,
        _ => if_false,
    })
}

/// `x | mandatory(msg)`: fails when `x` is undefined.
pub fn mandatory(value: &Value, msg: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() {
        let msg = msg.unwrap_or_else(|| "mandatory variable not defined".to_string());
        return Err(Error::new(ErrorKind::UndefinedError, msg));
    }
    Ok(value.clone())
}

/// Python's type name for a value, as Ansible's `type_debug` prints it.
pub fn type_debug(value: &Value, _kwargs: Kwargs) -> String {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn bool_follows_ansible_words() {
        let out = render(
            "{% for v in ['yes', 'No', 'on', 'off', 'true', 'False', '1', '0', 1, 0, true, 'maybe'] %}{{ v | bool }} {% endfor %}",
            json!({}),
        );
        assert_eq!(
            out,
            "True False True False True False True False True False True False "
        );
    }

    #[test]
    fn int_and_float_fall_back_to_defaults_like_jinja() {
        assert_eq!(
            render(
                "{{ '42' | int }} {{ ' 7 ' | int }} {{ '3.9' | int }} {{ 'abc' | int }} {{ 'abc' | int(5) }}",
                json!({})
            ),
            "42 7 3 0 5"
        );
        assert_eq!(
            render(
                "{{ '0x1F' | int(0, 16) }} {{ '101' | int(base=2) }}",
                json!({})
            ),
            "31 5"
        );
        assert_eq!(
            render(
                "{{ '1.5' | float }} {{ 'x' | float }} {{ 2 | float }}",
                json!({})
            ),
            "1.5 0.0 2.0"
        );
        // The fleet benchmark template relies on this: 'host03' -> '03' -> 3.
        assert_eq!(
            render(
                "{{ ('host03' | replace('host', '') | int) % 8 + 1 }}",
                json!({})
            ),
            "4"
        );
    }

    #[test]
    fn ternary_picks_by_truth_and_none() {
        // Ansible docs: "{{ (status == 'needs_restart') | ternary('restart', 'continue') }}"
        let vars = json!({"status": "needs_restart", "enabled": null});
        assert_eq!(
            render(
                "{{ (status == 'needs_restart') | ternary('restart', 'continue') }}",
                vars.clone()
            ),
            "restart"
        );
        assert_eq!(
            render(
                "{{ enabled | ternary('no shutdown', 'shutdown', omit) }}",
                vars
            ),
            crate::template::OMIT
        );
        assert_eq!(render("{{ 0 | ternary('a', 'b') }}", json!({})), "b");
    }

    #[test]
    fn mandatory_fails_only_when_undefined() {
        assert_eq!(render("{{ x | mandatory }}", json!({"x": 1})), "1");
        let err = render_err("{{ x | mandatory('set x in group_vars') }}");
        assert!(err.contains("set x in group_vars"), "{err}");
    }

    #[test]
    fn type_debug_names_python_types() {
        assert_eq!(
            render(
                "{{ 'a' | type_debug }} {{ 1 | type_debug }} {{ [] | type_debug }} {{ {} | type_debug }}",
                json!({})
            ),
            "str int list dict"
        );
    }
}
