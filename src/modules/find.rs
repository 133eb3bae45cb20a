//! `find`: the files under some directories that match names, age, size,
//! mode and content, each as a stat-like dict in `files`, with `matched`,
//! `examined` and `skipped_paths` as Ansible returns them. One round trip:
//! a small python3 walker (find.py, sent with the command) does the walk on
//! the host, since Ansible's matching (fnmatch, Python's `re` on names and
//! contents, text encodings) is Python's own. Never changes anything, so
//! check mode runs it as usual. The answer is bounded: more than
//! `MAX_MATCHES` files is an error asking for narrower patterns.

use serde_json::{Value, json};

use super::args::Args;
use super::owner_group_mode::{Mode, apply_symbolic};
use super::python_worker;
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// find, as a task writes it.
pub const MODULE: Module = Module {
    name: "find",
    params: &[
        alias("paths", &["name", "path"]),
        alias("patterns", &["pattern"]),
        alias("excludes", &["exclude"]),
        p("contains"),
        p("read_whole_file"),
        p("file_type"),
        p("age"),
        p("age_stamp"),
        p("size"),
        p("recurse"),
        p("hidden"),
        p("follow"),
        p("get_checksum"),
        alias("checksum_algorithm", &["checksum_algo", "checksum"]),
        p("use_regex"),
        p("depth"),
        p("mode"),
        p("exact_mode"),
        p("encoding"),
    ],
    required: &[&["paths"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// The walker run on the host.
const WALKER: &str = include_str!("find.py");

/// At most this many files in one answer (each is about 600 bytes of
/// JSON, so the answer stays under the 8 MiB of captured output).
const MAX_MATCHES: usize = 10_000;

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let paths = split_list(&args, "paths")?.unwrap_or_default();
    if paths.is_empty() {
        return Err(args.error("missing required argument: paths"));
    }
    let params = json!({
        "paths": paths,
        "patterns": split_list(&args, "patterns")?.unwrap_or_default(),
        "excludes": split_list(&args, "excludes")?.unwrap_or_default(),
        "contains": args.str("contains")?,
        "read_whole_file": args.bool("read_whole_file", false)?,
        "file_type": args.choice("file_type", &["any", "directory", "file", "link"], Some("file"))?,
        "age": args.str("age")?.map(|a| seconds(&a).ok_or_else(|| args.error(format!("failed to process age: {a}")))).transpose()?,
        "age_stamp": args.choice("age_stamp", &["atime", "ctime", "mtime"], Some("mtime"))?,
        "size": args.str("size")?.map(|s| bytes(&s).ok_or_else(|| args.error(format!("failed to process size: {s}")))).transpose()?,
        "recurse": args.bool("recurse", false)?,
        "hidden": args.bool("hidden", false)?,
        "follow": args.bool("follow", false)?,
        "get_checksum": args.bool("get_checksum", false)?,
        "checksum_algorithm": args.choice(
            "checksum_algorithm",
            &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
            Some("sha1"),
        )?,
        "use_regex": args.bool("use_regex", false)?,
        "depth": args.int("depth")?,
        "mode": mode_bits(&args)?,
        "exact_mode": args.bool("exact_mode", true)?,
        "encoding": args.str("encoding")?,
        "max_matches": MAX_MATCHES,
    });
    let data = match python_worker::run(ctx, "find", WALKER, &params, &[]).await? {
        Ok(data) => data,
        Err(failed) => return Ok(failed),
    };
    if data.contains_key("too_many") {
        return Ok(ModuleOutput::failed(format!(
            "find matched more than {MAX_MATCHES} files; narrow paths, patterns or depth"
        )));
    }
    let msg = data.get("msg").and_then(Value::as_str).map(String::from);
    Ok(ModuleOutput {
        msg,
        data,
        ..ModuleOutput::default()
    })
}

/// A list argument; a string is split at commas, as Ansible's `type=list`.
fn split_list(args: &Args<'_>, name: &str) -> Result<Option<Vec<String>>, ModuleError> {
    if let Some((_, Value::String(s))) = args.value(&[name]) {
        return Ok(Some(s.split(',').map(|p| p.trim().to_string()).collect()));
    }
    args.list(name)
}

/// `mode` as permission bits: octal, or symbolic applied to no bits (as
/// Ansible's `_symbolic_mode_to_octal` on mode 0).
fn mode_bits(args: &Args<'_>) -> Result<Option<u32>, ModuleError> {
    let Some((_, value)) = args.value(&["mode"]) else {
        return Ok(None);
    };
    match Mode::parse(value).map_err(|e| args.error(e))? {
        Mode::Octal(m) => Ok(Some(m)),
        Mode::Symbolic(s) => apply_symbolic(&s, 0, false)
            .map(Some)
            .map_err(|e| args.error(e)),
        Mode::Preserve => Err(args.error("mode must be octal or symbolic, not preserve")),
    }
}

/// `age` (`2d`, `-1w`, `30`) in seconds.
fn seconds(age: &str) -> Option<i64> {
    with_unit(
        age,
        &[
            ('s', 1),
            ('m', 60),
            ('h', 3600),
            ('d', 86400),
            ('w', 604800),
        ],
    )
}

/// `size` (`10k`, `-5`, `1g`) in bytes.
fn bytes(size: &str) -> Option<i64> {
    with_unit(
        size,
        &[
            ('b', 1),
            ('k', 1 << 10),
            ('m', 1 << 20),
            ('g', 1 << 30),
            ('t', 1 << 40),
        ],
    )
}

/// A signed integer with an optional one-letter unit.
fn with_unit(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let (number, factor) = match units.iter().find(|(u, _)| text.ends_with(*u)) {
        Some((_, f)) => (&text[..text.len() - 1], *f),
        None => (text.as_str(), 1),
    };
    let digits = number.strip_prefix('-').unwrap_or(number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<i64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes_with_units() {
        assert_eq!(seconds("1w"), Some(604800));
        assert_eq!(seconds("-1w"), Some(-604800));
        assert_eq!(seconds("30"), Some(30));
        assert_eq!(seconds("2D"), Some(172800));
        assert_eq!(seconds("w"), None);
        assert_eq!(seconds("1y"), None);
        assert_eq!(bytes("5"), Some(5));
        assert_eq!(bytes("-5"), Some(-5));
        assert_eq!(bytes("10k"), Some(10240));
        assert_eq!(bytes("1g"), Some(1 << 30));
    }
}
