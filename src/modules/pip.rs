//! `pip`: install, upgrade or remove Python packages on the host with its
//! pip, optionally in a virtualenv the module creates first, as Ansible's
//! `ansible.builtin.pip` does. "changed" is decided as Ansible decides it:
//! pip's "Successfully installed/uninstalled", or for a requirements file
//! (and VCS URLs) the installed set (`pip list --format=freeze`) before and
//! after. Check mode compares the named requirements with the installed
//! set (see [`pip_requirement`](super::pip_requirement)) and changes
//! nothing.

use serde_json::json;

use super::args::Args;
use super::git::{path_word, umask_arg};
use super::pip_requirement::{Requirement, recover_names};
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{ExecOutput, shell_quote};

/// pip, as a task writes it.
pub const MODULE: Module = Module {
    name: "pip",
    params: &[
        p("name"),
        p("version"),
        p("requirements"),
        p("state"),
        p("virtualenv"),
        p("virtualenv_command"),
        p("virtualenv_site_packages"),
        p("virtualenv_python"),
        p("extra_args"),
        p("executable"),
        p("chdir"),
        p("editable"),
        p("umask"),
        p("break_system_packages"),
    ],
    required: &[&["name", "requirements"]],
    exclusive: &[("name", "requirements"), ("executable", "virtualenv")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// herd's default `virtualenv_command` (Ansible's is `virtualenv`, which
/// Debian hosts rarely have; `venv` ships with python3-venv).
const DEFAULT_VENV: &str = "python3 -m venv";

/// Commands run on the host for one task: the prelude (umask, pip's
/// environment, chdir, the virtualenv's bin/ first in PATH) and output.
struct Pip<'a> {
    ctx: &'a ModuleContext<'a>,
    prelude: String,
    stdout: String,
    stderr: String,
}

impl Pip<'_> {
    /// Runs `argv` after the prelude.
    async fn run(&self, argv: &[String]) -> Result<ExecOutput, ModuleError> {
        let words: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
        let command = format!("{}exec {}", self.prelude, words.join(" "));
        let mut exec = self.ctx.exec.clone();
        exec.env.push(("LC_ALL".into(), "C".into()));
        Ok(self.ctx.transport.exec(&command, &exec).await?)
    }

    /// Shell text after the prelude (probes).
    async fn shell(&self, text: &str) -> Result<String, ModuleError> {
        let command = format!("{}{text}", self.prelude);
        let out = self.ctx.transport.exec(&command, &self.ctx.exec).await?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn keep(&mut self, out: &ExecOutput) {
        self.stdout.push_str(&String::from_utf8_lossy(&out.stdout));
        self.stderr.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    /// Ansible's failure: everything pip said so far, with the command.
    fn fail(&self, cmd: &[String]) -> ModuleOutput {
        failure(cmd, &self.stdout, &self.stderr)
    }

    /// The installed packages, `name==version` per line (`pip list
    /// --format=freeze`, or `pip freeze` for an old pip), and the command
    /// that listed them; a failed result when neither runs.
    async fn packages(&self, pip: &[String]) -> Result<Listed, ModuleError> {
        let mut cmd = pip.to_vec();
        cmd.extend(["list".to_string(), "--format=freeze".to_string()]);
        let mut out = self.run(&cmd).await?;
        if !out.success() {
            cmd = pip.to_vec();
            cmd.push("freeze".into());
            out = self.run(&cmd).await?;
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if !out.success() {
            return Ok(Err(failure(&cmd, &text(&out.stdout), &text(&out.stderr))));
        }
        Ok(Ok((cmd.join(" "), text(&out.stdout))))
    }
}

/// The listing command and its output, or the failed result.
type Listed = Result<(String, String), ModuleOutput>;

/// Ansible's failure: pip's output as the message, with the command.
fn failure(cmd: &[String], stdout: &str, stderr: &str) -> ModuleOutput {
    let mut msg = String::new();
    if !stdout.is_empty() {
        msg.push_str(&format!("stdout: {stdout}"));
    }
    if !stderr.is_empty() {
        msg.push_str(&format!("\n:stderr: {stderr}"));
    }
    let mut out = ModuleOutput::failed(msg);
    out.data.insert("cmd".into(), json!(cmd.join(" ")));
    out
}

/// `out` with the task's fields it lacks.
fn merge(mut out: ModuleOutput, data: &Vars) -> ModuleOutput {
    for (k, v) in data {
        out.data.entry(k.clone()).or_insert(v.clone());
    }
    out
}

/// Ansible's VCS URLs (`git+https://...`), whose installs are judged by
/// the installed set.
fn is_vcs_url(name: &str) -> bool {
    ["svn+", "git+", "hg+", "bzr+"]
        .iter()
        .any(|p| name.trim_start().starts_with(p))
}

/// Whether `command` is Python's venv (`python3 -m venv`, `pyvenv`),
/// which takes no `-p`.
fn is_venv(words: &[String]) -> bool {
    words.first().is_some_and(|w| w.ends_with("pyvenv"))
        || words.windows(2).any(|w| w[0] == "-m" && w[1] == "venv")
}

/// The command that creates the virtualenv (its path is added last).
fn venv_argv(
    command: &str,
    python: Option<&str>,
    site_packages: bool,
) -> Result<Vec<String>, String> {
    let mut argv = shlex::split(command)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| format!("virtualenv_command: cannot split {command:?} into words"))?;
    if is_venv(&argv) {
        match python {
            // herd's default runs venv with the python asked for.
            Some(py) if command == DEFAULT_VENV => argv[0] = py.to_string(),
            Some(_) => {
                return Err("virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command".into());
            }
            None => {}
        }
    } else {
        argv.push(format!("-p{}", python.unwrap_or("python3")));
    }
    if site_packages {
        argv.push("--system-site-packages".into());
    }
    Ok(argv)
}

/// The pip to run: the virtualenv's, `executable`, or the host python's
/// pip module (else `pip3`), as Ansible picks it.
async fn find_pip(
    pip: &Pip<'_>,
    env: Option<&str>,
    executable: Option<&str>,
) -> Result<Result<Vec<String>, String>, ModuleError> {
    if let Some(exe) = executable.filter(|e| e.starts_with('/')) {
        return Ok(Ok(vec![exe.to_string()]));
    }
    let probe = match (env, executable) {
        (Some(env), _) => format!(
            "for n in pip3 pip; do if [ -x {e}/bin/$n ]; then echo {e}/bin/$n; exit 0; fi; done",
            e = path_word(env)
        ),
        (None, Some(exe)) => format!("command -v -- {} 2>/dev/null", shell_quote(exe)),
        (None, None) => "if command -v python3 >/dev/null 2>&1 && python3 -c 'import pip' >/dev/null 2>&1; then \
             echo \"py:$(command -v python3)\"; else command -v pip3 2>/dev/null; fi"
            .into(),
    };
    let found = pip.shell(&probe).await?;
    let found = found.lines().next().unwrap_or("").trim().to_string();
    if let Some(python) = found.strip_prefix("py:") {
        return Ok(Ok(vec![python.to_string(), "-m".into(), "pip".into()]));
    }
    if !found.is_empty() {
        return Ok(Ok(vec![found]));
    }
    Ok(Err(match (env, executable) {
        (Some(env), _) => format!(
            "Unable to find pip in the virtualenv, {env}, under any of these names: pip3, pip. Make sure pip is present in the virtualenv."
        ),
        (None, Some(exe)) => {
            format!("Unable to find any of {exe} to use.  pip needs to be installed.")
        }
        (None, None) => {
            "Unable to find any of pip3 to use.  pip needs to be installed (python3-pip)".into()
        }
    }))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let state = args
        .choice(
            "state",
            &["present", "absent", "latest", "forcereinstall"],
            Some("present"),
        )?
        .unwrap_or_default();
    let names = args.list("name")?;
    let version = args.str("version")?;
    let requirements = args.str("requirements")?;
    let chdir = args.str("chdir")?;
    let executable = args.str("executable")?;
    let mut extra_args = args.str("extra_args")?;
    let venv_command = args
        .str("virtualenv_command")?
        .unwrap_or_else(|| DEFAULT_VENV.into());
    let venv_python = args.str("virtualenv_python")?;
    let site_packages = args.bool("virtualenv_site_packages", false)?;
    // A relative virtualenv lies in chdir, or in the login directory.
    let env = args.str("virtualenv")?.map(|e| match &chdir {
        Some(dir) if !e.starts_with('/') && !e.starts_with('~') => {
            format!("{}/{e}", dir.trim_end_matches('/'))
        }
        None if !e.starts_with('/') && !e.starts_with('~') => format!("~/{e}"),
        _ => e,
    });

    let mut data = Vars::new();
    data.insert("name".into(), json!(names));
    data.insert("version".into(), json!(version));
    data.insert("state".into(), json!(state));
    data.insert("requirements".into(), json!(requirements));
    data.insert("virtualenv".into(), json!(env));
    let failed = |msg: String, data: &Vars| Ok(merge(ModuleOutput::failed(msg), data));
    if state == "latest" && version.is_some() {
        return failed("version is incompatible with state=latest".into(), &data);
    }

    // Requirements as pip is handed them (`version` folded into the name).
    let mut packages: Vec<Requirement> = names
        .as_deref()
        .map(recover_names)
        .unwrap_or_default()
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| Requirement::parse(n))
        .collect();
    if let Some(version) = &version {
        if packages.len() > 1 {
            return failed("'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument.".into(), &data);
        }
        if let Some(first) = packages.first_mut() {
            if first.has_specifier() {
                return failed("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument.".into(), &data);
            }
            *first = first.with_version(version);
        }
    }
    let has_vcs = packages.iter().any(|p| is_vcs_url(&p.text));

    let mut prelude = String::new();
    if let Some(umask) = umask_arg(&args)? {
        prelude.push_str(&format!("umask {umask} || exit 1; "));
    }
    if args.bool("break_system_packages", false)? {
        // The variable, not the option: pip 23.0 and older lack the option.
        prelude.push_str("PIP_BREAK_SYSTEM_PACKAGES=1; export PIP_BREAK_SYSTEM_PACKAGES; ");
    }
    // pip would ask an index for its own newer version: noise, and a wait
    // on hosts without network.
    prelude.push_str("PIP_DISABLE_PIP_VERSION_CHECK=1; export PIP_DISABLE_PIP_VERSION_CHECK; ");
    let dir = chdir
        .as_deref()
        .map_or_else(|| "\"${TMPDIR:-/tmp}\"".to_string(), path_word);
    prelude.push_str(&format!("cd -- {dir} || exit 1; "));
    if let Some(env) = &env {
        // Programs installed in the virtualenv are found by what pip builds.
        prelude.push_str(&format!(
            "PATH={}/bin:\"$PATH\"; export PATH; ",
            path_word(env)
        ));
    }
    let mut pip = Pip {
        ctx,
        prelude,
        stdout: String::new(),
        stderr: String::new(),
    };

    if let Some(dir) = &chdir
        && pip.shell("echo here").await? != "here"
    {
        return failed(
            format!("Unable to change directory to {dir} on {}", ctx.host),
            &data,
        );
    }

    let mut venv_created = false;
    let mut venv_cmd: Vec<String> = Vec::new();
    if let Some(env) = &env {
        let there = pip
            .shell(&format!(
                "[ -e {}/bin/activate ] && echo yes || echo no",
                path_word(env)
            ))
            .await?;
        if there != "yes" {
            venv_created = true;
            if ctx.check_mode {
                return Ok(ModuleOutput {
                    changed: true,
                    data,
                    ..ModuleOutput::default()
                });
            }
            venv_cmd = match venv_argv(&venv_command, venv_python.as_deref(), site_packages) {
                Ok(argv) => argv,
                Err(msg) => return failed(msg, &data),
            };
            // The path is expanded by the host's shell (`~`).
            let target = pip.shell(&format!("echo {}", path_word(env))).await?;
            venv_cmd.push(target);
            let out = pip.run(&venv_cmd).await?;
            pip.keep(&out);
            if !out.success() {
                let mut failed = pip.fail(&venv_cmd);
                if out.exit_code == Some(127) {
                    let msg = format!(
                        "{} is not installed on {}: install python3 and python3-venv there, or set virtualenv_command",
                        venv_cmd[0], ctx.host
                    );
                    failed.msg = Some(msg.clone());
                    failed.data.insert("msg".into(), json!(msg));
                }
                return Ok(merge(failed, &data));
            }
        }
    }

    let pip_argv = match find_pip(&pip, env.as_deref(), executable.as_deref()).await? {
        Ok(argv) => argv,
        Err(msg) => return failed(format!("{msg} (on {})", ctx.host), &data),
    };

    let mut cmd = pip_argv.clone();
    cmd.extend(
        match state.as_str() {
            "absent" => &["uninstall", "-y"][..],
            "latest" => &["install", "-U"][..],
            "forcereinstall" => &["install", "-U", "--force-reinstall"][..],
            _ => &["install"][..],
        }
        .iter()
        .map(|s| s.to_string()),
    );
    if args.bool("editable", false)? {
        let mut words: Vec<String> = extra_args
            .as_deref()
            .map(|e| e.split(' ').map(String::from).collect())
            .unwrap_or_default();
        if !words.iter().any(|w| w == "-e") {
            words.push("-e".into());
            extra_args = Some(words.join(" ").trim().to_string());
        }
    }
    if let Some(extra) = &extra_args {
        let words = shlex::split(extra)
            .ok_or_else(|| args.error(format!("extra_args: unbalanced quotes in {extra:?}")))?;
        cmd.extend(words);
    }
    if !packages.is_empty() {
        cmd.extend(packages.iter().map(|p| p.text.clone()));
    } else if let Some(req) = &requirements {
        cmd.extend(["-r".to_string(), req.clone()]);
    } else if venv_created {
        // Only the virtualenv was asked for.
        data.insert("cmd".into(), json!(venv_cmd));
        data.insert("stdout".into(), json!(pip.stdout));
        data.insert("stderr".into(), json!(pip.stderr));
        return Ok(ModuleOutput {
            changed: true,
            data,
            ..ModuleOutput::default()
        });
    } else {
        data.insert(
            "warnings".into(),
            json!(["No valid name or requirements file found."]),
        );
        return Ok(ModuleOutput {
            data,
            ..ModuleOutput::default()
        });
    }

    if ctx.check_mode {
        if extra_args.is_some()
            || requirements.is_some()
            || state == "latest"
            || packages.is_empty()
        {
            return Ok(ModuleOutput {
                changed: true,
                data,
                ..ModuleOutput::default()
            });
        }
        return plan(&pip, &pip_argv, &packages, &state, data).await;
    }

    let before = if requirements.is_some() || has_vcs {
        match pip.packages(&pip_argv).await? {
            Ok((_, listed)) => Some(listed),
            Err(out) => return Ok(merge(out, &data)),
        }
    } else {
        None
    };
    let out = pip.run(&cmd).await?;
    pip.keep(&out);
    let said = |what: &str| {
        String::from_utf8_lossy(&out.stdout).contains(what)
            || String::from_utf8_lossy(&out.stderr).contains(what)
    };
    let not_installed = out.exit_code == Some(1) && state == "absent" && said("not installed");
    if !out.success() && !not_installed {
        return Ok(merge(pip.fail(&cmd), &data));
    }
    let changed = if state == "absent" {
        String::from_utf8_lossy(&out.stdout).contains("Successfully uninstalled")
    } else if let Some(before) = before {
        match pip.packages(&pip_argv).await? {
            Ok((_, after)) => after != before,
            Err(out) => return Ok(merge(out, &data)),
        }
    } else {
        String::from_utf8_lossy(&out.stdout).contains("Successfully installed")
    };
    data.insert("cmd".into(), json!(cmd));
    data.insert("stdout".into(), json!(pip.stdout));
    data.insert("stderr".into(), json!(pip.stderr));
    Ok(ModuleOutput {
        changed: changed || venv_created,
        data,
        ..ModuleOutput::default()
    })
}

/// Check mode for named requirements: whether `state` would change any of
/// them, judged by the installed set.
async fn plan(
    pip: &Pip<'_>,
    pip_argv: &[String],
    packages: &[Requirement],
    state: &str,
    mut data: Vars,
) -> Result<ModuleOutput, ModuleError> {
    let (list_cmd, listed) = match pip.packages(pip_argv).await? {
        Ok(found) => found,
        Err(out) => return Ok(merge(out, &data)),
    };
    let installed: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|l| l.trim().split_once("=="))
        .collect();
    let changed = packages.iter().any(|p| {
        let present = installed.iter().any(|(n, v)| p.satisfied_by(n, v));
        match state {
            "present" => !present,
            "absent" => present,
            // forcereinstall always reinstalls.
            _ => true,
        }
    });
    data.insert("cmd".into(), json!(list_cmd));
    data.insert("stdout".into(), json!(format!("{}{listed}", pip.stdout)));
    data.insert("stderr".into(), json!(pip.stderr));
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}
