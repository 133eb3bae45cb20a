//! The Ansible filters minijinja and minijinja-contrib lack, grouped by kind.
//!
//! - [`types`]: `bool`, `int`, `float` (replacing minijinja's with Ansible's
//!   semantics), `ternary`, `mandatory`, `type_debug`
//! - [`strings`]: `quote`, `b64encode`, `b64decode`
//! - [`data`]: `to_json`, `to_nice_json`, `from_json`, `to_yaml`,
//!   `to_nice_yaml`, `from_yaml`
//! - [`collections`]: `combine`, `dict2items`, `items2dict`, `flatten`,
//!   `union`, `intersect`, `difference`, `symmetric_difference`, `extract`
//! - [`paths`]: `basename`, `dirname`, `splitext`, `path_join`
//! - [`hashing`]: `hash`, `md5`, `sha1`, `checksum`, `to_uuid`
//! - [`crypt`]: the `password_hash` filter
//! - [`shuffle`]: the `shuffle` filter
//! - [`regex`]: `regex_replace`, `regex_search`, `regex_findall`, `regex_escape`

use minijinja::Environment;

pub mod collections;
pub mod comment;
pub mod crypt;
pub mod data;
pub mod hashing;
pub mod paths;
pub mod regex;
pub mod shuffle;
pub mod strings;
pub mod types;

/// Adds every filter in this folder to `env` (replacing same-named builtins).
pub(crate) fn register(env: &mut Environment<'static>) {
    types::register(env);
    strings::register(env);
    comment::register(env);
    data::register(env);
    collections::register(env);
    paths::register(env);
    hashing::register(env);
    regex::register(env);
    crypt::register(env);
    shuffle::register(env);
}

/// Renders `source` with the herd environment; shared by the filter tests.
#[cfg(test)]
pub(crate) fn render(source: &str, vars: serde_json::Value) -> String {
    let vars = match vars {
        serde_json::Value::Object(map) => map,
        _ => panic!("vars must be an object"),
    };
    crate::template::Templates::new()
        .render_file("test.j2", source, &vars)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

/// Renders `source` expecting an error; returns its text.
#[cfg(test)]
pub(crate) fn render_err(source: &str) -> String {
    crate::template::Templates::new()
        .render_file("test.j2", source, &crate::template::Vars::new())
        .expect_err(source)
        .to_string()
}
