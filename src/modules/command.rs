//! `command` and `shell`: run a command line on the host.
//!
//! `command` splits its line into words and quotes each, so the host's
//! shell does no expansion, redirection or pipes; `shell` hands the line to
//! `/bin/sh -c` (or `executable`). `chdir`, `creates` and `removes` are
//! checked in the same round trip as the command itself.

use serde_json::{Value, json};

use super::args::Args;
use super::command_run::{self, Prelude};
use super::spec::{Module, StringArgs, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// The `key=value` words a free-form command line may carry.
const FREE_FORM: StringArgs =
    StringArgs::FreeForm(&["chdir", "creates", "removes", "executable", "stdin", "warn"]);

/// command, as a task writes it.
pub const COMMAND: Module = Module {
    name: "command",
    params: &[
        p("_raw_params"),
        p("cmd"),
        p("argv"),
        p("chdir"),
        p("creates"),
        p("removes"),
        p("stdin"),
        p("stdin_add_newline"),
        p("strip_empty_ends"),
        p("executable"),
        p("expand_argument_vars"),
        // Removed in Ansible 2.14: accepted and ignored (see `parse`).
        p("warn"),
    ],
    string_args: FREE_FORM,
    required: &[&["_raw_params", "cmd", "argv"]],
    exclusive: &[("_raw_params", "argv"), ("cmd", "argv")],
    run: async_run!(run, false),
    ..Module::DEFAULT
};

/// shell, as a task writes it.
pub const SHELL: Module = Module {
    name: "shell",
    params: &[
        p("_raw_params"),
        p("cmd"),
        p("chdir"),
        p("creates"),
        p("removes"),
        p("stdin"),
        p("stdin_add_newline"),
        p("strip_empty_ends"),
        p("executable"),
        // Refused when run, as Ansible's shell does (see `parse`).
        p("expand_argument_vars"),
        p("warn"),
    ],
    string_args: FREE_FORM,
    required: &[&["_raw_params", "cmd"]],
    run: async_run!(run, true),
    ..Module::DEFAULT
};

/// What to run.
#[derive(Debug)]
enum Line {
    /// `command`: words, run without a shell's interpretation.
    Argv(Vec<String>),
    /// `shell`: a shell script line.
    Shell(String),
}

#[derive(Debug)]
struct Params {
    line: Line,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    stdin: Option<String>,
    stdin_add_newline: bool,
    strip_empty_ends: bool,
    executable: Option<String>,
    /// `command`: expand `$VAR`, `${VAR}` and a leading `~` in each word on
    /// the host (Ansible's `expand_argument_vars`, default true).
    expand: bool,
    warnings: Vec<String>,
}

fn parse(shell: bool, vars: &Vars) -> Result<Params, ModuleError> {
    if shell && vars.contains_key("expand_argument_vars") {
        // The loader accepts it (shell shares command's parameters) but, as
        // Ansible's shell action does, shell refuses it when run, in
        // Ansible's words.
        return Err(ModuleError::Local(
            "Unsupported parameters for (shell) module: expand_argument_vars".into(),
        ));
    }
    let args = Args::new(if shell { &SHELL } else { &COMMAND }, vars)?;
    let raw = args
        .str_any(&["_raw_params", "cmd"])?
        .filter(|s| !s.trim().is_empty());
    let argv = if shell { None } else { args.list("argv")? };
    let mut warnings = Vec::new();
    let line = match (raw, argv) {
        (Some(_), Some(_)) => {
            return Err(args.error("parameters are mutually exclusive: cmd|_raw_params, argv"));
        }
        (None, None) => return Err(args.error("no command given")),
        (None, Some(argv)) if argv.is_empty() => return Err(args.error("no command given")),
        (None, Some(argv)) => Line::Argv(argv),
        (Some(raw), None) if shell => Line::Shell(raw),
        (Some(raw), None) => Line::Argv(shlex::split(&raw).ok_or_else(|| {
            args.error(format!(
                "cannot split command line (unbalanced quotes?): {raw}"
            ))
        })?),
    };
    let executable = args.str("executable")?;
    if !shell && executable.is_some() {
        warnings.push(
            "As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '...'."
                .replace("...", executable.as_deref().unwrap_or_default()),
        );
    }
    if args.has("warn") {
        // Older roles still write `warn: false`; ansible-core 2.14 dropped
        // the parameter. herd runs the task and says so.
        warnings.push(
            "The 'warn' parameter of command and shell was removed in Ansible 2.14; herd ignores it."
                .into(),
        );
    }
    let expand = !shell && args.bool("expand_argument_vars", true)?;
    Ok(Params {
        line,
        chdir: args.str("chdir")?,
        creates: args.str("creates")?,
        removes: args.str("removes")?,
        stdin: args.str("stdin")?,
        stdin_add_newline: args.bool("stdin_add_newline", true)?,
        strip_empty_ends: args.bool("strip_empty_ends", true)?,
        executable: if shell { executable } else { None },
        expand,
        warnings,
    })
}

/// Runs `command` (`shell == false`) or `shell`.
pub async fn run(
    ctx: &ModuleContext<'_>,
    shell: bool,
    vars: &Vars,
) -> Result<ModuleOutput, ModuleError> {
    let p = parse(shell, vars)?;
    let mut data = Vars::new();
    let (cmd_value, script) = match &p.line {
        Line::Argv(words) => (
            json!(words),
            words
                .iter()
                .map(|w| {
                    if p.expand {
                        expand_word(w)
                    } else {
                        shell_quote(w)
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Line::Shell(line) => (
            json!(line),
            format!(
                "{} -c {}",
                shell_quote(p.executable.as_deref().unwrap_or("/bin/sh")),
                shell_quote(line)
            ),
        ),
    };
    data.insert("cmd".into(), cmd_value);
    if !p.warnings.is_empty() {
        data.insert("warnings".into(), json!(p.warnings));
    }
    let guarded = p.creates.is_some() || p.removes.is_some();
    let marker = command_run::marker();
    let mut prelude = format!(
        "{}{}",
        command_run::chdir(p.chdir.as_deref(), &marker),
        command_run::skip_checks(p.creates.as_deref(), p.removes.as_deref(), &marker)
    );
    if let (Line::Argv(words), false) = (&p.line, ctx.check_mode) {
        prelude.push_str(&command_run::program_exists(&words[0], &marker));
    }

    if ctx.check_mode {
        // Only the prelude runs: would the command be skipped?
        let outcome = if prelude.is_empty() {
            Prelude::Run
        } else {
            let out = ctx
                .transport
                .exec(&format!("{prelude}exit 0"), &ctx.exec)
                .await?;
            command_run::prelude_outcome(&out, &marker)
        };
        return Ok(match outcome {
            Prelude::Run => {
                data.insert("rc".into(), json!(0));
                data.insert("stdout".into(), json!(""));
                data.insert("stderr".into(), json!(""));
                let msg = "Command would have run if not in check mode";
                data.insert("msg".into(), json!(msg));
                ModuleOutput {
                    // Without creates/removes there is no telling: skipped.
                    changed: guarded,
                    skipped: !guarded,
                    msg: Some(msg.into()),
                    data,
                    ..ModuleOutput::default()
                }
            }
            other => not_run(&p, other, true, data),
        });
    }

    let stdin = p.stdin.as_ref().map(|s| {
        let mut bytes = s.clone().into_bytes();
        if p.stdin_add_newline {
            bytes.push(b'\n');
        }
        bytes
    });
    let out = command_run::timed(ctx, &format!("{prelude}{script}"), stdin, &mut data).await?;
    match command_run::prelude_outcome(&out, &marker) {
        Prelude::Run => Ok(command_run::finished(&out, p.strip_empty_ends, data)),
        other => Ok(not_run(&p, other, false, data)),
    }
}

/// Shell text for one word with its environment variables and leading `~`
/// expanded on the host, like Python's `expandvars`/`expanduser`: a
/// variable that is not set stays as written (so `awk '{print $1}'` keeps
/// its `$1`), and nothing else is interpreted.
fn expand_word(word: &str) -> String {
    static VAR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\$(\w+|\{[^}]*\})").expect("a valid pattern")
    });
    let mut out = String::new();
    let mut rest = word;
    if let Some(after) = word.strip_prefix('~')
        && (after.is_empty() || after.starts_with('/'))
    {
        out.push_str("\"$HOME\"");
        rest = after;
    }
    let mut last = 0;
    for found in VAR.find_iter(rest) {
        let text = found.as_str();
        let name = text[1..].trim_start_matches('{').trim_end_matches('}');
        if !crate::ssh::is_shell_name(name) {
            continue;
        }
        out.push_str(&quoted(&rest[last..found.start()]));
        out.push_str(&format!(
            "\"$(if [ -n \"${{{name}+x}}\" ]; then printf %s \"${name}\"; else printf %s {}; fi)\"",
            shell_quote(text)
        ));
        last = found.end();
    }
    out.push_str(&quoted(&rest[last..]));
    if out.is_empty() { "''".into() } else { out }
}

fn quoted(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        shell_quote(text)
    }
}

/// The result when the prelude stopped the command.
fn not_run(p: &Params, why: Prelude, check: bool, mut data: Vars) -> ModuleOutput {
    let would = if check { "Would" } else { "Did" };
    let (msg, stdout, failed) = match why {
        Prelude::Creates => {
            let c = p.creates.as_deref().unwrap_or_default();
            (
                format!("{would} not run command since '{c}' exists"),
                format!("skipped, since {c} exists"),
                false,
            )
        }
        Prelude::Removes => {
            let r = p.removes.as_deref().unwrap_or_default();
            (
                format!("{would} not run command since '{r}' does not exist"),
                format!("skipped, since {r} does not exist"),
                false,
            )
        }
        Prelude::NotFound => {
            let program = match &p.line {
                Line::Argv(words) => words[0].as_str(),
                Line::Shell(line) => line.as_str(),
            };
            data.insert("rc".into(), json!(2));
            (
                format!("[Errno 2] No such file or directory: b'{program}'"),
                String::new(),
                true,
            )
        }
        _ => (
            format!(
                "Unable to change directory before execution: {}",
                p.chdir.as_deref().unwrap_or_default()
            ),
            String::new(),
            true,
        ),
    };
    data.entry("rc")
        .or_insert(json!(if failed { 1 } else { 0 }));
    command_run::put_text(&mut data, "stdout", stdout);
    command_run::put_text(&mut data, "stderr", String::new());
    data.insert("msg".into(), Value::String(msg.clone()));
    ModuleOutput {
        changed: false,
        failed,
        msg: Some(msg),
        data,
        ..ModuleOutput::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::args::vars;

    #[test]
    fn argument_rules() {
        assert!(
            parse(
                false,
                &vars(json!({"_raw_params": "echo hi", "argv": ["echo"]}))
            )
            .is_err()
        );
        assert!(parse(false, &vars(json!({"chdir": "/"}))).is_err());
        assert!(parse(true, &vars(json!({"_raw_params": "x", "argv": ["echo"]}))).is_err());
        let p = parse(false, &vars(json!({"_raw_params": "echo 'a b' c"}))).unwrap();
        match p.line {
            Line::Argv(w) => assert_eq!(w, ["echo", "a b", "c"]),
            Line::Shell(_) => panic!(),
        }
        let p = parse(false, &vars(json!({"cmd": "ls", "executable": "/bogus"}))).unwrap();
        assert!(p.warnings[0].contains("no longer supported"));
        let p = parse(true, &vars(json!({"cmd": "ls", "warn": false}))).unwrap();
        assert!(p.warnings[0].contains("'warn' parameter"));
    }
}
