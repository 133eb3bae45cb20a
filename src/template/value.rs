//! Moving data between serde_json (how herd holds variables) and minijinja
//! values, plus the few Python-flavoured conversions Ansible filters rely on.

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// A template value as JSON, for filters that work on plain data.
pub(crate) fn to_json(value: &Value) -> Result<serde_json::Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "value is undefined"));
    }
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot use this value as data: {e}"),
        )
    })
}

/// JSON data (or any serde data, such as `Vars`) as a template value.
pub(crate) fn from_json<T: serde::Serialize>(data: &T) -> Value {
    Value::from(minijinja::value::Serde(data))
}

/// A value as text, the way Python's `str()` would show a scalar.
pub(crate) fn text(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::None => "None".to_string(),
        ValueKind::Bool if value.is_true() => "True".to_string(),
        ValueKind::Bool => "False".to_string(),
        _ => value.to_string(),
    }
}

/// The error for a filter given the wrong kind of value.
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python's `str()` of a value, for filters that take "anything as text";
/// undefined is an error.
pub(crate) fn as_text(value: &Value) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "got an undefined value",
        ));
    }
    Ok(text(value))
}
