//! `include_vars`: variables from YAML/JSON files on the controller, for
//! the rest of the play on this host. The files are the admin's (like
//! `vars_files`), so their values may be templates, rendered when used;
//! the engine keeps them in their own layer (see `engine::vars`). Parsed by
//! herd's YAML loader, with its node budget against alias bombs.
//!
//! `file` (or the free-form path) is searched in the role's `vars/`, the
//! role, the task file's dir and the play's dir (each's `vars/` first);
//! `dir` is walked in sorted order, a directory's files before its
//! subdirectories, `depth` levels deep (0: all), following symlinks.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

use super::spec::{Module, Run, StringArgs, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars, find_source};
use crate::template::Scope;

/// include_vars, as a task writes it: parameters as Ansible's.
pub const MODULE: Module = Module {
    name: "include_vars",
    params: &[
        p("_raw_params"),
        p("file"),
        p("dir"),
        p("depth"),
        p("files_matching"),
        p("ignore_files"),
        p("extensions"),
        p("ignore_unknown_extensions"),
        p("name"),
        p("hash_behaviour"),
    ],
    // A path, or a template giving one (first_found).
    string_args: StringArgs::Whole,
    controller_paths: &["file", "dir", "_raw_params"],
    run: Run::Sync(run),
    ..Module::DEFAULT
};

/// Guard against a directory tree that loops through symlinks.
const MAX_DEPTH: usize = 64;

pub fn run(ctx: &ModuleContext<'_>, args: &Vars) -> Result<ModuleOutput, ModuleError> {
    let text = |k: &str| match args.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    let file = text("file").or_else(|| text("_raw_params"));
    let dir = text("dir");
    let merge = match text("hash_behaviour").as_deref() {
        None | Some("replace") => false,
        Some("merge") => true,
        Some(other) => {
            return Err(args_error(format!(
                "hash_behaviour must be replace or merge, not `{other}`"
            )));
        }
    };
    let mut results = Vars::new();
    let mut included = Vec::new();
    if let Some(dir) = dir {
        let root = match find_source(&ctx.search.vars, &dir) {
            Some(p) if p.is_dir() => p,
            _ => return Ok(failed(format!("{dir} directory does not exist"))),
        };
        let opts = DirOptions::from_args(args)?;
        let mut files = Vec::new();
        walk(&root, 0, &opts, &mut files).map_err(ModuleError::Local)?;
        // Files of one directory replace each other's keys; directories
        // are merged into each other under hash_behaviour=merge.
        let mut by_dir: Vec<(PathBuf, Vars)> = Vec::new();
        for path in files {
            if let Err(e) = opts.check_extension(&path) {
                return Ok(failed(e));
            }
            let vars = match load(&path) {
                Ok(v) => v,
                Err(e) => return Ok(failed(e)),
            };
            let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
            match by_dir.last_mut() {
                Some((d, acc)) if *d == parent => acc.extend(vars),
                _ => by_dir.push((parent, vars)),
            }
            included.push(Value::String(path.display().to_string()));
        }
        for (_, vars) in by_dir {
            combine(&mut results, vars, merge);
        }
    } else if let Some(file) = file {
        let Some(path) = find_source(&ctx.search.vars, &file) else {
            let searched: Vec<String> = ctx
                .search
                .vars
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return Ok(failed(format!(
                "Could not find file '{file}' (searched: {})",
                searched.join(", ")
            )));
        };
        match load(&path) {
            Ok(vars) => results = vars,
            Err(e) => return Ok(failed(e)),
        }
        included.push(Value::String(path.display().to_string()));
    } else {
        return Ok(failed(
            "Could not find file: no file, dir or free-form path given".into(),
        ));
    }
    if let Some(name) = text("name") {
        let mut scoped = Vars::new();
        scoped.insert(name, Value::Object(results));
        results = scoped;
    }
    if merge {
        // Merged with the value the variable has now, unless that is host
        // data: admin values must not take in what a host sent back.
        for (name, value) in results.iter_mut() {
            if let Some(old) = ctx.vars.get(name).filter(|_| !ctx.vars.is_data(name)) {
                let mut merged = old.clone();
                merge_values(&mut merged, value.clone());
                *value = merged;
            }
        }
    }
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), Value::Object(results));
    data.insert("ansible_included_var_files".into(), Value::Array(included));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

fn args_error(message: String) -> ModuleError {
    ModuleError::Args {
        module: "include_vars".into(),
        message,
    }
}

/// A failed result, with the error under `message` too (Ansible's key).
fn failed(message: String) -> ModuleOutput {
    let mut out = ModuleOutput::failed(message.clone());
    out.data.insert("message".into(), Value::String(message));
    out
}

/// Reads one vars file: a YAML (or JSON) mapping, or an empty file.
fn load(path: &Path) -> Result<Vars, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        crate::yaml::from_str(&text, path).map_err(|e| format!("{}: {e}", path.display()))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Vars::new()),
        _ => Err(format!(
            "{} must be stored as a dictionary/hash",
            path.display()
        )),
    }
}

/// `into` takes `vars`' keys; with `merge`, mappings are merged key by key.
fn combine(into: &mut Vars, vars: Vars, merge: bool) {
    for (k, v) in vars {
        match into.get_mut(&k) {
            Some(old) if merge => merge_values(old, v),
            _ => {
                into.insert(k, v);
            }
        }
    }
}

/// Recursive merge of mappings (Ansible's `combine_vars(merge=True)`).
fn merge_values(old: &mut Value, new: Value) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => combine(o, n, true),
        (old, new) => *old = new,
    }
}

struct DirOptions {
    depth: usize,
    matching: Option<Regex>,
    ignore: Vec<Regex>,
    extensions: Vec<String>,
    ignore_unknown: bool,
}

impl DirOptions {
    fn from_args(args: &Vars) -> Result<DirOptions, ModuleError> {
        let regex =
            |p: &str| Regex::new(p).map_err(|e| args_error(format!("bad pattern `{p}`: {e}")));
        let list = |k: &str| -> Vec<String> {
            match args.get(k) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect(),
                Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
                _ => Vec::new(),
            }
        };
        let depth = match args.get("depth") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| args_error(format!("depth must be a number, not {v}")))?
                as usize,
        };
        let matching = match args.get("files_matching").and_then(Value::as_str) {
            Some(p) => Some(regex(p)?),
            None => None,
        };
        // Anchored at the end of the name, as Ansible does.
        let ignore = list("ignore_files")
            .iter()
            .map(|p| regex(&format!("(?:{p})$")))
            .collect::<Result<_, _>>()?;
        let mut extensions = list("extensions");
        if extensions.is_empty() {
            extensions = vec!["json".into(), "yaml".into(), "yml".into()];
        }
        let ignore_unknown = match args.get("ignore_unknown_extensions") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.to_lowercase().as_str(), "yes" | "true" | "1"),
            _ => false,
        };
        Ok(DirOptions {
            depth,
            matching,
            ignore,
            extensions,
            ignore_unknown,
        })
    }

    fn wanted(&self, name: &str) -> bool {
        self.matching.as_ref().is_none_or(|m| m.is_match(name))
            && !self.ignore.iter().any(|i| i.is_match(name))
    }

    fn extension_ok(&self, path: &Path) -> bool {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.extensions.contains(&ext)
    }

    fn check_extension(&self, path: &Path) -> Result<(), String> {
        if self.extension_ok(path) {
            Ok(())
        } else {
            Err(format!(
                "{} does not have a valid extension: {}",
                path.display(),
                self.extensions.join(", ")
            ))
        }
    }
}

/// The files to load under `dir` (at `level`), in load order.
fn walk(dir: &Path, level: usize, opts: &DirOptions, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if level > MAX_DEPTH {
        return Err(format!(
            "{}: more than {MAX_DEPTH} directory levels (a symlink loop?)",
            dir.display()
        ));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut subdirs = Vec::new();
    for path in entries {
        // metadata() follows symlinks, as Ansible's walk does.
        if path.is_dir() {
            subdirs.push(path);
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !opts.wanted(&name) {
            continue;
        }
        if opts.ignore_unknown && !opts.extension_ok(&path) {
            continue;
        }
        out.push(path);
    }
    if opts.depth == 0 || level + 1 < opts.depth {
        for sub in subdirs {
            walk(&sub, level + 1, opts, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(args: Value) -> DirOptions {
        DirOptions::from_args(args.as_object().unwrap()).unwrap()
    }

    #[test]
    fn an_alias_bomb_in_a_vars_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let path = dir.path().join("bomb.yml");
        std::fs::write(&path, bomb).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.contains("alias bomb"), "{err}");
    }

    #[test]
    fn a_dir_is_walked_files_first_then_sorted_subdirs_to_depth() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "b.yml",
            "a.yml",
            "sub/c.yml",
            "sub/deeper/d.yml",
            "notes.txt",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x: 1\n").unwrap();
        }
        let names = |o: &DirOptions| {
            let mut out = Vec::new();
            walk(dir.path(), 0, o, &mut out).unwrap();
            out.iter()
                .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        let all = json!({"ignore_unknown_extensions": true});
        assert_eq!(
            names(&opts(all)),
            ["a.yml", "b.yml", "sub/c.yml", "sub/deeper/d.yml"]
        );
        let two = json!({"depth": 2, "ignore_files": ["b.yml"], "ignore_unknown_extensions": true});
        assert_eq!(names(&opts(two)), ["a.yml", "sub/c.yml"]);
        let matching = json!({"files_matching": "^[cd]"});
        assert_eq!(names(&opts(matching)), ["sub/c.yml", "sub/deeper/d.yml"]);
    }

    #[test]
    fn merge_combines_mappings_key_by_key() {
        let mut into = json!({"config": {"a": 1, "nested": {"x": 1}}, "keep": 1});
        let new = json!({"config": {"b": 2, "nested": {"y": 2}}});
        combine(
            into.as_object_mut().unwrap(),
            new.as_object().unwrap().clone(),
            true,
        );
        assert_eq!(
            into,
            json!({"config": {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}, "keep": 1})
        );
    }
}
