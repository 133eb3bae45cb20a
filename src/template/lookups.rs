//! Ansible's `lookup()`, `query()` and `q()` global functions, run on the
//! controller as in Ansible: `file`, `template`, `vars`, `env`,
//! `first_found`, `lines`, `pipe`, `list`, `items`, `varnames`.
//!
//! `file` and `template` look for relative names under the directories of
//! the `ansible_search_path` variable (set by the engine per task: the role,
//! the task file's directory, the playbook directory), in their `files/` or
//! `templates/` subdirectory first, then in the directory itself.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::scope::DATA_KEY;

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

/// `lookup(name, terms...)`: one value; several results are joined with
/// commas, as Ansible does (unless `wantlist=True`).
fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist: Option<bool> = kwargs.get("wantlist")?;
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    if wantlist == Some(true) {
        return Ok(Value::from(results));
    }
    Ok(match results.len() {
        1 if name != "list" && name != "items" => results.into_iter().next().unwrap(),
        _ if name == "list" || name == "items" => Value::from(results),
        _ => Value::from(
            results
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    })
}

/// `query(name, terms...)`: always a list.
fn query(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    Ok(Value::from(results))
}

fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let texts = || terms.iter().map(text).collect::<Vec<_>>();
    match name {
        "list" => Ok(terms.to_vec()),
        "items" => Ok(terms
            .iter()
            .flat_map(|t| match t.try_iter() {
                Ok(items) if t.as_str().is_none() => items.collect(),
                _ => vec![t.clone()],
            })
            .collect()),
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            texts()
                .into_iter()
                .map(|name| match state.lookup(&name) {
                    Some(v) if !v.is_undefined() => Ok(v),
                    _ => default
                        .clone()
                        .ok_or_else(|| fail(format!("lookup('vars'): no variable named `{name}`"))),
                })
                .collect()
        }
        "varnames" => varnames(state, &texts()),
        "env" => {
            let default: Option<String> = kwargs.get("default")?;
            Ok(texts()
                .into_iter()
                .map(|n| {
                    Value::from(std::env::var(&n).unwrap_or(default.clone().unwrap_or_default()))
                })
                .collect())
        }
        "file" => {
            let rstrip: Option<bool> = kwargs.get("rstrip")?;
            let lstrip: Option<bool> = kwargs.get("lstrip")?;
            texts()
                .into_iter()
                .map(|term| {
                    let path = find(state, &term, "files")?;
                    let mut content = read(&path)?;
                    if rstrip.unwrap_or(true) {
                        content.truncate(content.trim_end().len());
                    }
                    if lstrip.unwrap_or(false) {
                        content = content.trim_start().to_string();
                    }
                    Ok(Value::from(content))
                })
                .collect()
        }
        "template" => {
            // Accepted for compatibility; herd renders templates to text.
            let _: Option<bool> = kwargs.get("convert_data")?;
            texts()
                .into_iter()
                .map(|term| {
                    let path = find(state, &term, "templates")?;
                    let source = read(&path)?;
                    let ctx = template_context(state, &source);
                    let name = path.display().to_string();
                    let source =
                        super::percent::rewrite_template(&source, &super::env::default_syntax());
                    state
                        .env()
                        .render_named_str(&name, &source, ctx)
                        .map(Value::from)
                })
                .collect()
        }
        "first_found" => first_found(state, terms, kwargs),
        "lines" | "pipe" => {
            let mut out = Vec::new();
            for command in texts() {
                let stdout = shell(&command)?;
                if name == "pipe" {
                    out.push(Value::from(stdout.trim_end().to_string()));
                } else {
                    out.extend(stdout.lines().map(|l| Value::from(l.to_string())));
                }
            }
            Ok(out)
        }
        other => Err(fail(format!(
            "lookup plugin `{other}` is not supported by herd; supported: file, template, vars, env, first_found, lines, pipe, list, items"
        ))),
    }
}

/// The variable naming the subdirectory `first_found` searches first
/// (`vars` for include_vars, `files` otherwise, as Ansible picks by the
/// task's action). Set by the engine; not a valid variable name.
pub const LOOKUP_SUBDIR_KEY: &str = "herd lookup subdir";

/// `first_found`: the first existing file of the terms (names, or
/// mappings with `files`, `paths` and `skip`; `files`/`paths`/`skip` may be
/// keyword arguments too). A name without `paths` is searched like the
/// `file` lookup's. Nothing found is an error, unless `skip=True` or
/// `errors='ignore'` (then no result).
/// `lookup('varnames', '^prefix_.+', ...)`: the names of the variables the
/// task sees that match any of the regular expressions (searched, as
/// Python's `re.search`), in sorted order.
fn varnames(state: &State, patterns: &[String]) -> Result<Vec<Value>, Error> {
    let globals: std::collections::HashSet<&str> =
        state.env().globals().map(|(name, _)| name).collect();
    let mut names: Vec<String> = state
        .known_variables()
        .into_iter()
        .filter(|name| {
            !globals.contains(name.as_ref())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|name| name.into_owned())
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for pattern in patterns {
        let regex = regex::Regex::new(pattern).map_err(|e| {
            fail(format!(
                "lookup('varnames'): invalid regex `{pattern}`: {e}"
            ))
        })?;
        out.extend(
            names
                .iter()
                .filter(|n| regex.is_match(n))
                .map(|n| Value::from(n.as_str())),
        );
    }
    Ok(out)
}

fn first_found(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut spec = FirstFound::default();
    if let Some(f) = kwargs.get::<Option<Value>>("files")? {
        spec.files.extend(split(&f, &[',', ';']));
    }
    if let Some(p) = kwargs.get::<Option<Value>>("paths")? {
        spec.paths.extend(split(&p, &[',', ':', ';']));
    }
    spec.skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    let errors: Option<String> = kwargs.get("errors")?;
    spec.add_terms(terms);
    let subdir = state
        .lookup(LOOKUP_SUBDIR_KEY)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "files".into());
    let found = spec.find(&search_path(state), &subdir);
    match found {
        Some(path) => Ok(vec![Value::from(path.display().to_string())]),
        None if spec.skip || errors.as_deref() == Some("ignore") => Ok(Vec::new()),
        None => Err(fail(spec.not_found(&subdir))),
    }
}

/// `with_first_found:` over `terms` (rendered already), with the task's
/// variables: the found path as the one item, or no item with `skip`.
pub fn first_found_items(
    terms: &serde_json::Value,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<serde_json::Value>, String> {
    let mut spec = FirstFound::default();
    spec.add_terms(&[super::value::from_json(terms)]);
    let search: Vec<String> = match vars.get("ansible_search_path") {
        Some(serde_json::Value::Array(dirs)) => dirs
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect(),
        _ => vec![".".to_string()],
    };
    let subdir = vars
        .get(LOOKUP_SUBDIR_KEY)
        .and_then(|v| v.as_str())
        .unwrap_or("files");
    match spec.find(&search, subdir) {
        Some(path) => Ok(vec![serde_json::Value::String(path.display().to_string())]),
        None if spec.skip => Ok(Vec::new()),
        None => Err(spec.not_found(subdir)),
    }
}

#[derive(Default)]
struct FirstFound {
    files: Vec<String>,
    paths: Vec<String>,
    skip: bool,
}

impl FirstFound {
    fn add_terms(&mut self, terms: &[Value]) {
        // `lookup('first_found', [a, b])` passes the list as one term.
        let flat: Vec<Value> = terms
            .iter()
            .flat_map(|t| match t.kind() {
                minijinja::value::ValueKind::Seq => {
                    t.try_iter().map(|i| i.collect()).unwrap_or_default()
                }
                _ => vec![t.clone()],
            })
            .collect();
        for term in &flat {
            if let Some(name) = term.as_str() {
                self.files.push(name.to_string());
                continue;
            }
            let get = |k: &str| {
                term.get_attr(k)
                    .ok()
                    .filter(|v| !v.is_undefined() && !v.is_none())
            };
            if let Some(f) = get("files") {
                self.files.extend(split(&f, &[',', ';']));
            }
            if let Some(p) = get("paths") {
                self.paths.extend(split(&p, &[',', ':', ';']));
            }
            if let Some(s) = get("skip") {
                self.skip = s.is_true();
            }
        }
    }

    fn find(&self, search: &[String], subdir: &str) -> Option<PathBuf> {
        self.files.iter().find_map(|file| {
            let found = if self.paths.is_empty() {
                find_in(search, file, subdir)
            } else {
                self.paths.iter().find_map(|dir| {
                    let name = Path::new(dir).join(file).display().to_string();
                    find_in(search, &name, subdir)
                })
            };
            found.filter(|p| p.exists())
        })
    }

    fn not_found(&self, subdir: &str) -> String {
        format!(
            "first_found: none of {} was found (searched {subdir}/ of the search path)",
            self.files.join(", ")
        )
    }
}

/// The words of a name or a list of names, split at `seps`.
fn split(v: &Value, seps: &[char]) -> Vec<String> {
    let words: Vec<String> = match v.as_str() {
        Some(s) => vec![s.to_string()],
        None => v
            .try_iter()
            .map(|items| items.map(|i| text(&i)).collect())
            .unwrap_or_default(),
    };
    words
        .iter()
        .flat_map(|w| w.split(seps).map(str::trim).map(str::to_string))
        .filter(|w| !w.is_empty())
        .collect()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn fail(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// The task's `ansible_search_path`.
fn search_path(state: &State) -> Vec<String> {
    state
        .lookup("ansible_search_path")
        .and_then(|v| {
            v.try_iter()
                .ok()
                .map(|items| items.map(|i| text(&i)).collect())
        })
        .unwrap_or_else(|| vec![".".to_string()])
}

/// A relative name under the task's search path (`<dir>/<subdir>/name`,
/// then `<dir>/name`); an absolute one as it is.
fn find(state: &State, name: &str, subdir: &str) -> Result<PathBuf, Error> {
    let dirs = search_path(state);
    find_in(&dirs, name, subdir).ok_or_else(|| {
        fail(format!(
            "could not find `{name}` in {subdir}/ of the search path ({})",
            dirs.join(", ")
        ))
    })
}

/// [`find`] over `dirs`.
fn find_in(dirs: &[String], name: &str, subdir: &str) -> Option<PathBuf> {
    if Path::new(name).is_absolute() {
        return Some(PathBuf::from(name));
    }
    dirs.iter().find_map(|dir| {
        [
            Path::new(dir).join(subdir).join(name),
            Path::new(dir).join(name),
        ]
        .into_iter()
        .find(|c| c.exists())
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))
}

/// The context for a template the `template` lookup renders: the caller's
/// variables, with the ones the template mentions rendered first when their
/// values are templates themselves (`v: "{{ d }}"` gives `d`'s value, as
/// Ansible's lazy variables do), except data. A value that fails to render is left as
/// it is, for the template to report if it uses it.
fn template_context(state: &State, source: &str) -> Value {
    let mut map: std::collections::BTreeMap<String, Value> = state
        .known_variables()
        .into_iter()
        .filter_map(|name| state.lookup(&name).map(|v| (name.to_string(), v)))
        .collect();
    let env = state.env();
    let mentioned = env
        .template_from_str(source)
        .map(|t| t.undeclared_variables(false))
        .unwrap_or_default();
    let raw = Value::from(map.clone());
    // Data (host output, facts...) is never rendered; see `scope`.
    let data = state.lookup(DATA_KEY);
    let is_data = |name: &str| {
        data.as_ref()
            .and_then(|d| d.try_iter().ok())
            .is_some_and(|mut names| names.any(|n| n.as_str() == Some(name)))
    };
    for name in mentioned {
        if is_data(&name) {
            continue;
        }
        let Some(text) = map.get(&name).and_then(|v| v.as_str().map(str::to_string)) else {
            continue;
        };
        if !text.contains("{{") {
            continue;
        }
        let rendered = match text
            .trim()
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
        {
            Some(expr) if !expr.contains("{{") => env
                .compile_expression(expr.trim())
                .and_then(|e| e.eval(raw.clone())),
            _ => env.render_str(&text, raw.clone()).map(Value::from),
        };
        if let Ok(value) = rendered {
            map.insert(name, value);
        }
    }
    Value::from(map)
}

/// Runs `command` with `sh -c` on the controller; its stdout.
fn shell(command: &str) -> Result<String, Error> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .output()
        .map_err(|e| fail(format!("cannot run `{command}`: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "lookup: `{command}` exited with {}",
            out.status.code().unwrap_or(-1)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use crate::template::filters::render;
    use serde_json::json;

    #[test]
    fn varnames_lists_the_matching_variables_the_task_sees() {
        let vars = json!({"app_port": 1, "app_user": "x", "db_app": 2, "other": 3});
        assert_eq!(
            render("{{ lookup('varnames', '^app_.+') }}", vars.clone()),
            "app_port,app_user"
        );
        assert_eq!(
            render(
                "{{ query('varnames', 'app', '^oth') | join(' ') }}",
                vars.clone()
            ),
            "app_port app_user db_app other"
        );
        // No function or internal name is a variable.
        assert_eq!(render("{{ query('varnames', 'look|range') }}", vars), "[]");
    }
}
