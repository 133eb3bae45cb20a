//! `apt`: Debian packages, with apt-get on the host. One probe round trip
//! (the package manager, the cache's age, `dpkg-query` and `apt-cache
//! policy` for every name at once) decides what must change; apt-get then
//! runs only if something must, non-interactively (`DEBIAN_FRONTEND=
//! noninteractive`, stdin closed, dpkg keeps changed config files), and in
//! check mode with `--simulate`, so `--check` reports what apt would do.
//!
//! `package` (package.rs) runs this module on hosts whose package manager
//! is apt.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::args::Args;
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// apt's parameters, with `extra` ones after them: `package` passes its
/// arguments on to apt, so it takes them all (plus `use`).
macro_rules! apt_params {
    ($($extra:expr),*) => {
        &[
            alias("name", &["package", "pkg"]),
            p("state"),
            alias("update_cache", &["update-cache"]),
            p("cache_valid_time"),
            p("update_cache_retries"),
            p("update_cache_retry_max_delay"),
            alias("install_recommends", &["install-recommends"]),
            p("purge"),
            p("autoremove"),
            p("autoclean"),
            p("clean"),
            p("deb"),
            p("force"),
            alias("allow_unauthenticated", &["allow-unauthenticated"]),
            alias(
                "allow_downgrade",
                &["allow-downgrade", "allow_downgrades", "allow-downgrades"],
            ),
            p("allow_change_held_packages"),
            p("upgrade"),
            p("dpkg_options"),
            alias("default_release", &["default-release"]),
            p("only_upgrade"),
            p("fail_on_autoremove"),
            p("force_apt_get"),
            p("lock_timeout"),
            p("policy_rc_d"),
            $($extra),*
        ]
    };
}
pub(super) use apt_params;

/// Ansible's required_one_of for apt.
pub const REQUIRED: &[&[&str]] = &[&[
    "name",
    "deb",
    "update_cache",
    "upgrade",
    "autoremove",
    "autoclean",
    "clean",
]];

/// Ansible's mutually_exclusive for apt.
pub const EXCLUSIVE: &[(&str, &str)] = &[("name", "deb"), ("name", "upgrade"), ("deb", "upgrade")];

/// apt, as a task writes it.
pub const MODULE: Module = Module {
    name: "apt",
    params: apt_params!(),
    required: REQUIRED,
    exclusive: EXCLUSIVE,
    run: async_run!(run),
    ..Module::DEFAULT
};

/// apt-get's summary when it did nothing.
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";

/// Where the age of the package lists is read (Ansible's choice).
const UPDATE_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";

/// Every apt-get and apt-cache call runs with this: no prompt, no
/// translated output to parse.
const ENV: &str = "export DEBIAN_FRONTEND=noninteractive LC_ALL=C LANG=C; ";

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Outcome {
    let args = Args::new(&MODULE, vars)?;
    let opts = Options::read(&args)?;
    apply(ctx, &opts, "apt").await
}

type Outcome = Result<ModuleOutput, ModuleError>;

/// What the task asks for, read once.
#[derive(Debug, Default)]
pub struct Options {
    pub names: Vec<String>,
    pub state: String,
    pub update_cache: bool,
    pub cache_valid_time: i64,
    pub install_recommends: Option<bool>,
    pub purge: bool,
    pub autoremove: bool,
    pub autoclean: bool,
    pub clean: bool,
    pub deb: Option<String>,
    pub force: bool,
    pub allow_unauthenticated: bool,
    pub allow_downgrade: bool,
    pub allow_change_held: bool,
    pub upgrade: Option<String>,
    pub dpkg_options: Vec<String>,
    pub default_release: Option<String>,
    pub only_upgrade: bool,
    pub fail_on_autoremove: bool,
    pub lock_timeout: i64,
    pub policy_rc_d: Option<i64>,
}

impl Options {
    pub fn read(args: &Args<'_>) -> Result<Options, ModuleError> {
        let names: Vec<String> = args
            .list("name")?
            .unwrap_or_default()
            .iter()
            .flat_map(|n| n.split(','))
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        let state = args
            .choice(
                "state",
                &["present", "latest", "absent", "build-dep", "fixed"],
                Some("present"),
            )?
            .unwrap_or_default();
        check_names(&names, &state).map_err(|m| args.error(m))?;
        let upgrade = args
            .choice(
                "upgrade",
                &["dist", "full", "yes", "safe", "no", "True", "False"],
                None,
            )?
            .filter(|u| !matches!(u.as_str(), "no" | "False"))
            .map(|u| if u == "True" { "yes".into() } else { u });
        let cache_valid_time = args.int("cache_valid_time")?.unwrap_or(0);
        let dpkg_options = args
            .str("dpkg_options")?
            .unwrap_or_else(|| "force-confdef,force-confold".into())
            .split(',')
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        args.int("update_cache_retries")?;
        args.int("update_cache_retry_max_delay")?;
        args.bool("force_apt_get", false)?;
        let deb = args.str("deb")?;
        if deb.is_some() && state != "present" {
            return Err(args.error("deb only supports state=present"));
        }
        Ok(Options {
            names,
            update_cache: args.bool("update_cache", false)? || cache_valid_time > 0,
            cache_valid_time,
            install_recommends: args.opt_bool("install_recommends")?,
            purge: args.bool("purge", false)?,
            autoremove: args.bool("autoremove", false)?,
            autoclean: args.bool("autoclean", false)?,
            clean: args.bool("clean", false)?,
            deb,
            force: args.bool("force", false)?,
            allow_unauthenticated: args.bool("allow_unauthenticated", false)?,
            allow_downgrade: args.bool("allow_downgrade", false)?,
            allow_change_held: args.bool("allow_change_held_packages", false)?,
            upgrade,
            dpkg_options,
            default_release: args.str("default_release")?,
            only_upgrade: args.bool("only_upgrade", false)?,
            fail_on_autoremove: args.bool("fail_on_autoremove", false)?,
            lock_timeout: args.int("lock_timeout")?.unwrap_or(60),
            policy_rc_d: args.int("policy_rc_d")?,
            state,
        })
    }
}

/// Package specs herd can act on: `name` or `name=version`, and `*` alone
/// with `latest` (upgrade everything).
fn check_names(names: &[String], state: &str) -> Result<(), String> {
    for name in names {
        if name.matches('=').count() > 1 {
            return Err(format!("invalid package spec: {name}"));
        }
        let (bare, _) = split_spec(name);
        if bare != "*" && bare.contains(['*', '?', '[']) {
            return Err(format!(
                "{name}: herd's apt does not expand name wildcards; list the packages by name"
            ));
        }
        if bare == "*" && (state != "latest" || names.len() > 1) {
            return Err(
                "name '*' means every installed package: use it alone with state=latest".into(),
            );
        }
    }
    Ok(())
}

/// `foo=1.2*` as (`foo`, `Some("1.2*")`).
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('=') {
        Some((name, version)) => (name, Some(version)),
        None => (spec, None),
    }
}

/// Runs the task on one host; `module` names it in messages (`apt`,
/// `package`).
pub async fn apply(ctx: &ModuleContext<'_>, opts: &Options, module: &str) -> Outcome {
    let bare: Vec<&str> = opts
        .names
        .iter()
        .map(|n| split_spec(n).0)
        .filter(|n| *n != "*")
        .collect();
    // Without an update to wait for, the packages are probed at once.
    let with_packages = !opts.update_cache;
    let probe = run_probe(ctx, opts, &bare, with_packages).await?;
    if probe.manager != "apt-get" {
        let found = if probe.manager.is_empty() {
            "none found".to_string()
        } else {
            probe.manager.clone()
        };
        return Ok(ModuleOutput::failed(format!(
            "{module}: this host's package manager is not apt ({found}); herd manages apt hosts only"
        )));
    }
    let mut report = Report {
        cache_update_time: probe.cache_time,
        ..Report::default()
    };
    let mut packages = probe.packages;
    if opts.update_cache {
        // Without cache_valid_time the lists are always refreshed (also
        // within the second of the last update), as Ansible does.
        let stale =
            opts.cache_valid_time <= 0 || probe.now - probe.cache_time > opts.cache_valid_time;
        if stale {
            if ctx.check_mode {
                report.cache_updated = true;
            } else {
                let (cmd, out) = apt_get(ctx, opts, "update", &[], &[]).await?;
                if !out.ok {
                    let msg = format!(
                        "Failed to update apt cache: '{cmd}' failed: {}",
                        out.stderr.trim()
                    );
                    report.fail_with(msg, &out);
                    return Ok(report.finish(ctx));
                }
                // Updated, as Ansible says, even within the second of the
                // last update (the stamp's time cannot tell).
                report.cache_updated = true;
                report.cache_update_time = update_stamp(ctx).await?;
            }
        }
        if opts.names.is_empty() && opts.upgrade.is_none() && opts.deb.is_none() {
            report.changed = report.cache_updated;
            return Ok(report.finish(ctx));
        }
        packages = run_probe(ctx, opts, &bare, true).await?.packages;
    }

    if opts.clean {
        if report
            .apt_get(ctx, opts, "clean", &[], &[])
            .await?
            .is_none()
        {
            return Ok(report.finish(ctx));
        }
        report.changed = true;
    }
    if let Some(mode) = &opts.upgrade {
        return Ok(upgrade(ctx, opts, mode, report).await?.finish(ctx));
    }
    if let Some(deb) = &opts.deb {
        report = install_deb(ctx, opts, deb, report).await?;
        if report.failed.is_some() {
            return Ok(report.finish(ctx));
        }
    }
    if opts.names.iter().any(|n| n == "*") {
        return Ok(upgrade(ctx, opts, "yes", report).await?.finish(ctx));
    }
    if opts.names.is_empty() {
        if opts.autoclean {
            report = cleanup(ctx, opts, "autoclean", report).await?;
        }
        if opts.autoremove && report.failed.is_none() {
            report = cleanup(ctx, opts, "autoremove", report).await?;
        }
        return Ok(report.finish(ctx));
    }
    let report = match opts.state.as_str() {
        "absent" => remove(ctx, opts, &packages, report).await?,
        _ => install(ctx, opts, &packages, report).await?,
    };
    Ok(report.finish(ctx))
}

/// What the probe found.
#[derive(Debug, Default)]
struct Probe {
    /// The first package manager found (`apt-get`, `dnf`, ...).
    manager: String,
    /// mtime of the update stamp or the lists dir (0: never updated).
    cache_time: i64,
    now: i64,
    packages: BTreeMap<String, Package>,
}

/// One package as dpkg and apt see it.
#[derive(Debug, Default, Clone)]
struct Package {
    /// dpkg's status is `installed`.
    installed: Option<String>,
    /// Removed but its config files remain (`rc`).
    config_files: bool,
    /// apt's candidate, `None` for `(none)`.
    candidate: Option<String>,
    /// Every version apt knows, newest first.
    versions: Vec<String>,
    /// apt-cache knows the name at all.
    known: bool,
}

const MARK: &str = "@@herd-apt";

/// The probe script: the package manager, the cache age and (with
/// `with_packages`) the packages, each section after a marker.
fn probe_script(opts: &Options, names: &[&str], with_packages: bool) -> String {
    let mut s = format!(
        "{ENV}m=; for c in apt-get dnf yum zypper apk pacman pkg; do \
         if command -v $c >/dev/null 2>&1; then m=$c; break; fi; done; \
         echo \"{MARK} manager $m\"; [ \"$m\" = apt-get ] || exit 0; \
         t=$(stat -c %Y {UPDATE_STAMP} 2>/dev/null || stat -c %Y {LISTS} 2>/dev/null || echo 0); \
         echo \"{MARK} time $t $(date +%s)\"; "
    );
    if with_packages && !names.is_empty() {
        let quoted: Vec<String> = names.iter().map(|n| shell_quote(n)).collect();
        let quoted = quoted.join(" ");
        s.push_str(&format!(
            "echo '{MARK} dpkg'; dpkg-query -W -f='${{binary:Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' -- {quoted} 2>/dev/null; \
             echo '{MARK} policy'; apt-cache{} policy -- {quoted} 2>/dev/null; ",
            release_option(opts)
        ));
    }
    s.push_str("exit 0");
    s
}

fn release_option(opts: &Options) -> String {
    match &opts.default_release {
        Some(r) => format!(" -o {}", shell_quote(&format!("APT::Default-Release={r}"))),
        None => String::new(),
    }
}

async fn run_probe(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    names: &[&str],
    with_packages: bool,
) -> Result<Probe, ModuleError> {
    let out = ctx
        .transport
        .exec(&probe_script(opts, names, with_packages), &ctx.exec)
        .await?;
    if !out.success() {
        return Err(ModuleError::Transport(format!(
            "{}: probing packages failed: {}",
            ctx.host,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_probe(&String::from_utf8_lossy(&out.stdout), names))
}

fn parse_probe(text: &str, names: &[&str]) -> Probe {
    let mut probe = Probe::default();
    for n in names {
        probe.packages.insert(n.to_string(), Package::default());
    }
    let mut section = "";
    let mut current: Option<String> = None;
    let mut in_table = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                ["manager", m] => probe.manager = m.to_string(),
                ["manager"] => probe.manager.clear(),
                ["time", t, now] => {
                    probe.cache_time = t.parse().unwrap_or(0);
                    probe.now = now.parse().unwrap_or(0);
                }
                ["dpkg"] => section = "dpkg",
                ["policy"] => section = "policy",
                _ => {}
            }
            continue;
        }
        match section {
            "dpkg" => {
                let fields: Vec<&str> = line.split('\t').collect();
                if let [name, status, version] = fields.as_slice()
                    && let Some(key) = key_for(&probe.packages, name)
                    && let Some(p) = probe.packages.get_mut(&key)
                {
                    match status.get(..2) {
                        Some("ii") | Some("hi") => p.installed = Some(version.to_string()),
                        Some("rc") => p.config_files = true,
                        _ => {}
                    }
                }
            }
            "policy" => {
                if !line.starts_with(' ') && line.ends_with(':') {
                    current = key_for(&probe.packages, line.trim_end_matches(':'));
                    in_table = false;
                    if let Some(p) = current.as_ref().and_then(|n| probe.packages.get_mut(n)) {
                        p.known = true;
                    }
                    continue;
                }
                let Some(p) = current.as_ref().and_then(|n| probe.packages.get_mut(n)) else {
                    continue;
                };
                let trimmed = line.trim();
                if let Some(c) = trimmed.strip_prefix("Candidate:") {
                    let c = c.trim();
                    p.candidate = (c != "(none)").then(|| c.to_string());
                } else if trimmed == "Version table:" {
                    in_table = true;
                } else if in_table {
                    // "     2.10-3 500" or " *** 2.10-3 500": a version; the
                    // deeper "        500 file:/..." lines are its sources.
                    let t = trimmed.trim_start_matches("*** ");
                    let words: Vec<&str> = t.split_whitespace().collect();
                    if let [version, priority] = words.as_slice()
                        && priority.parse::<i64>().is_ok()
                    {
                        p.versions.push(version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    probe
}

/// The asked-for name `reported` (from dpkg or apt) stands for: itself
/// (`foo:i386` asked as such), or without its architecture (`libc6:amd64`
/// asked as `libc6`).
fn key_for(packages: &BTreeMap<String, Package>, reported: &str) -> Option<String> {
    if packages.contains_key(reported) {
        return Some(reported.to_string());
    }
    let bare = reported.split(':').next().unwrap_or(reported);
    packages.contains_key(bare).then(|| bare.to_string())
}

/// A finished apt-get run.
#[derive(Debug, Default)]
struct Ran {
    ok: bool,
    rc: i64,
    stdout: String,
    stderr: String,
}

/// Runs `apt-get OPTIONS COMMAND ARGS`, never interactive, waiting up to
/// `lock_timeout` for the dpkg lock. Returns the command as shown in
/// messages and what it did.
async fn apt_get(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    command: &str,
    flags: &[&str],
    operands: &[String],
) -> Result<(String, Ran), ModuleError> {
    let mut words: Vec<String> = vec!["apt-get".into(), "-y".into(), "-q".into()];
    for o in &opts.dpkg_options {
        words.push("-o".into());
        words.push(format!("Dpkg::Options::=--{o}"));
    }
    words.push("-o".into());
    words.push(format!("DPkg::Lock::Timeout={}", opts.lock_timeout.max(0)));
    words.extend(flags.iter().map(|f| f.to_string()));
    if ctx.check_mode && command != "update" {
        words.push("--simulate".into());
    }
    words.push(command.into());
    words.extend(operands.iter().cloned());
    let cmd: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    let cmd = cmd.join(" ");
    let script = match opts.policy_rc_d {
        // Ansible's policy_rc_d: invoke-rc.d asks /usr/sbin/policy-rc.d
        // whether to start services; the old one comes back afterwards.
        Some(code) if !ctx.check_mode => format!(
            "{ENV}p=/usr/sbin/policy-rc.d; b=\"$p.herd-$$\"; \
             if [ -e \"$p\" ]; then mv -f \"$p\" \"$b\"; fi; \
             printf '#!/bin/sh\\nexit %d\\n' {code} > \"$p\" && chmod 0755 \"$p\"; \
             {cmd} </dev/null; rc=$?; rm -f \"$p\"; \
             if [ -e \"$b\" ]; then mv -f \"$b\" \"$p\"; fi; exit $rc"
        ),
        _ => format!("{ENV}{cmd} </dev/null"),
    };
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let ran = Ran {
        ok: out.success(),
        rc: super::command_run::rc(&out),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Ok((cmd, ran))
}

/// Marks the lists as fresh (`update-notifier-common` does the same on
/// Ubuntu) so `cache_valid_time` sees this update; returns its time.
async fn update_stamp(ctx: &ModuleContext<'_>) -> Result<i64, ModuleError> {
    let dir = UPDATE_STAMP.rsplit_once('/').map_or("/", |(d, _)| d);
    let script = format!(
        "mkdir -p {dir} && touch {UPDATE_STAMP} 2>/dev/null; \
         stat -c %Y {UPDATE_STAMP} 2>/dev/null || stat -c %Y {LISTS} 2>/dev/null || echo 0"
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

/// The task's result as it builds up.
#[derive(Debug, Default)]
struct Report {
    changed: bool,
    cache_updated: bool,
    cache_update_time: i64,
    stdout: String,
    stderr: String,
    /// The packages apt changed: name -> (before, after).
    changes: BTreeMap<String, (Option<String>, Option<String>)>,
    failed: Option<String>,
    rc: Option<i64>,
    extra: Vars,
}

impl Report {
    fn add(&mut self, ran: &Ran) {
        self.stdout.push_str(&ran.stdout);
        self.stderr.push_str(&ran.stderr);
        for (name, change) in package_changes(&ran.stdout) {
            let entry = self.changes.entry(name).or_insert((None, None));
            if entry.0.is_none() {
                entry.0 = change.0;
            }
            entry.1 = change.1;
        }
    }

    fn finish(self, ctx: &ModuleContext<'_>) -> ModuleOutput {
        self.into_output(ctx.diff)
    }

    fn into_output(self, diff: bool) -> ModuleOutput {
        let mut data = self.extra;
        data.insert("cache_updated".into(), json!(self.cache_updated));
        data.insert("cache_update_time".into(), json!(self.cache_update_time));
        data.insert("stdout".into(), json!(self.stdout));
        data.insert("stderr".into(), json!(self.stderr));
        data.insert("stdout_lines".into(), json!(lines(&self.stdout)));
        data.insert("stderr_lines".into(), json!(lines(&self.stderr)));
        let mut out = ModuleOutput::default();
        if let Some(rc) = self.rc {
            data.insert("rc".into(), json!(rc));
        }
        if diff && !self.stdout.is_empty() {
            data.insert("diff".into(), json!({"prepared": prepared(&self.stdout)}));
        }
        if diff && !self.changes.is_empty() {
            let side = |after: bool| {
                self.changes
                    .iter()
                    .filter_map(|(name, (b, a))| {
                        let v = if after { a } else { b };
                        v.as_ref().map(|v| format!("{name} {v}\n"))
                    })
                    .collect::<String>()
            };
            out.diffs.push(FileDiff {
                path: "packages".into(),
                before: Some(side(false)),
                after: Some(side(true)),
            });
        }
        match self.failed {
            Some(msg) => {
                data.insert("msg".into(), json!(msg));
                out.failed = true;
                out.msg = Some(msg);
            }
            None => out.changed = self.changed,
        }
        out.data = data;
        out
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Ansible's `diff.prepared`: apt-get's report between "Reading state
/// information..." and its "N upgraded" summary.
fn prepared(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Reading state information...")
        .map_or(0, |i| i + 1);
    let end = lines
        .iter()
        .position(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u64>().is_ok())
                && l.contains(" upgraded")
        })
        .map_or(lines.len(), |i| i + 1);
    lines[start.min(end)..end].join("\n")
}

/// The packages an apt-get output changed, name -> (before, after): from
/// `--simulate` (`Inst x [old] (new ...)`, `Remv x [old]`) or from dpkg's
/// own lines (`Unpacking x (new) over (old)`, `Removing x (old)`).
fn package_changes(out: &str) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut changes: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let paren = |s: &str| {
        s.strip_prefix('(')
            .map(|r| r.split([' ', ')']).next().unwrap_or("").to_string())
    };
    let bracket = |s: &str| {
        s.strip_prefix('[')
            .map(|r| r.trim_end_matches(']').to_string())
    };
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let name = |w: &str| w.split(':').next().unwrap_or(w).to_string();
        match words.as_slice() {
            ["Inst", pkg, rest @ ..] => {
                let (old, new) = match rest {
                    [b, n, ..] if b.starts_with('[') => (bracket(b), paren(n)),
                    [n, ..] => (None, paren(n)),
                    [] => (None, None),
                };
                changes.insert(name(pkg), (old, new));
            }
            ["Remv" | "Purg", pkg, rest @ ..] => {
                let old = rest.first().and_then(|b| bracket(b));
                changes.insert(name(pkg), (old, None));
            }
            ["Unpacking", pkg, new, "over", old, ..] => {
                changes.insert(name(pkg), (paren(old), paren(new)));
            }
            ["Unpacking", pkg, new, ..] => {
                changes.insert(name(pkg), (None, paren(new)));
            }
            ["Removing", pkg, old, ..] if old.starts_with('(') => {
                changes
                    .entry(name(pkg))
                    .and_modify(|c| c.1 = None)
                    .or_insert((paren(old), None));
            }
            _ => {}
        }
    }
    changes
}

/// `present`, `latest`, `build-dep`, `fixed`: installs what is missing (or
/// older than apt's candidate, for `latest`).
async fn install(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    packages: &BTreeMap<String, Package>,
    mut report: Report,
) -> Result<Report, ModuleError> {
    let build_dep = opts.state == "build-dep";
    let mut operands = Vec::new();
    for spec in &opts.names {
        if build_dep {
            operands.push(spec.clone());
            continue;
        }
        let (name, version) = split_spec(spec);
        let pkg = packages.get(name).cloned().unwrap_or_default();
        if pkg.installed.is_none() && !pkg.known {
            report.failed = Some(format!("No package matching '{name}' is available"));
            return Ok(report);
        }
        if pkg.installed.is_none() && opts.only_upgrade {
            continue;
        }
        match version {
            Some(want) => {
                let pattern = glob::Pattern::new(want).ok();
                let matches = |v: &str| v == want || pattern.as_ref().is_some_and(|p| p.matches(v));
                if pkg.installed.as_deref().is_some_and(matches) {
                    continue;
                }
                let Some(found) = pkg.versions.iter().find(|v| matches(v)) else {
                    report.failed = Some(format!("no available installation candidate for {spec}"));
                    return Ok(report);
                };
                operands.push(format!("{name}={found}"));
            }
            None => {
                let outdated = opts.state == "latest"
                    && pkg.candidate.is_some()
                    && pkg.candidate != pkg.installed;
                if pkg.installed.is_some() && !outdated {
                    continue;
                }
                if pkg.installed.is_none() && pkg.candidate.is_none() {
                    report.failed = Some(format!("no available installation candidate for {name}"));
                    return Ok(report);
                }
                operands.push(name.to_string());
            }
        }
    }
    if operands.is_empty() && opts.state != "fixed" {
        return Ok(report);
    }
    let mut flags: Vec<&str> = Vec::new();
    if opts.only_upgrade {
        flags.push("--only-upgrade");
    }
    if opts.state == "fixed" {
        flags.push("--fix-broken");
    }
    if opts.autoremove && !build_dep {
        flags.push("--auto-remove");
    }
    let release;
    if let Some(r) = &opts.default_release {
        release = r.clone();
        flags.push("-t");
        flags.push(&release);
    }
    common_flags(opts, &mut flags);
    let command = if build_dep { "build-dep" } else { "install" };
    let Some(ran) = report
        .apt_get(ctx, opts, command, &flags, &operands)
        .await?
    else {
        return Ok(report);
    };
    report.changed |= !ran.stdout.contains(APT_GET_ZERO);
    Ok(report)
}

/// The flags every installing command shares.
fn common_flags(opts: &Options, flags: &mut Vec<&str>) {
    if opts.force {
        flags.push("--force-yes");
    }
    if opts.fail_on_autoremove {
        flags.push("--no-remove");
    }
    match opts.install_recommends {
        Some(true) => flags.extend(["-o", "APT::Install-Recommends=yes"]),
        Some(false) => flags.extend(["-o", "APT::Install-Recommends=no"]),
        None => {}
    }
    if opts.allow_unauthenticated {
        flags.push("--allow-unauthenticated");
    }
    if opts.allow_downgrade {
        flags.push("--allow-downgrades");
    }
    if opts.allow_change_held {
        flags.push("--allow-change-held-packages");
    }
}

impl Report {
    fn fail_with(&mut self, msg: String, ran: &Ran) {
        self.stdout.push_str(&ran.stdout);
        self.stderr.push_str(&ran.stderr);
        self.failed = Some(msg);
        self.rc = Some(ran.rc);
    }

    /// Runs apt-get (see [`apt_get`]) and takes in what it printed.
    /// `None`: it failed, and the report now fails with its stderr.
    async fn apt_get(
        &mut self,
        ctx: &ModuleContext<'_>,
        opts: &Options,
        command: &str,
        flags: &[&str],
        operands: &[String],
    ) -> Result<Option<Ran>, ModuleError> {
        let (cmd, ran) = apt_get(ctx, opts, command, flags, operands).await?;
        if !ran.ok {
            self.fail_with(format!("'{cmd}' failed: {}", ran.stderr), &ran);
            return Ok(None);
        }
        self.add(&ran);
        Ok(Some(ran))
    }
}

/// `absent`: removes (or purges) what is installed.
async fn remove(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    packages: &BTreeMap<String, Package>,
    mut report: Report,
) -> Result<Report, ModuleError> {
    let operands: Vec<String> = opts
        .names
        .iter()
        .map(|spec| split_spec(spec).0)
        .filter(|name| {
            packages
                .get(*name)
                .is_some_and(|p| p.installed.is_some() || (opts.purge && p.config_files))
        })
        .map(String::from)
        .collect();
    if operands.is_empty() {
        return Ok(report);
    }
    let mut flags: Vec<&str> = Vec::new();
    if opts.purge {
        flags.push("--purge");
    }
    if opts.force {
        flags.push("--force-yes");
    }
    if opts.autoremove {
        flags.push("--auto-remove");
    }
    if opts.allow_change_held {
        flags.push("--allow-change-held-packages");
    }
    let ran = report
        .apt_get(ctx, opts, "remove", &flags, &operands)
        .await?;
    report.changed |= ran.is_some();
    Ok(report)
}

/// `upgrade: yes|safe|dist|full` (and `name: '*'` with `state: latest`).
async fn upgrade(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    mode: &str,
    mut report: Report,
) -> Result<Report, ModuleError> {
    let mut flags: Vec<&str> = Vec::new();
    let command = match mode {
        "dist" | "full" => "dist-upgrade",
        "safe" => {
            flags.push("--with-new-pkgs");
            "upgrade"
        }
        _ => "upgrade",
    };
    if let Some(r) = &opts.default_release {
        flags.push("-t");
        flags.push(r);
    }
    if opts.autoremove {
        flags.push("--auto-remove");
    }
    common_flags(opts, &mut flags);
    let Some(ran) = report.apt_get(ctx, opts, command, &flags, &[]).await? else {
        return Ok(report);
    };
    report.changed |= !ran.stdout.contains(APT_GET_ZERO);
    report.extra.insert("msg".into(), Value::String(ran.stdout));
    Ok(report)
}

/// `autoclean` and `autoremove` without packages.
async fn cleanup(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    operation: &str,
    mut report: Report,
) -> Result<Report, ModuleError> {
    let mut flags: Vec<&str> = Vec::new();
    if opts.purge && operation == "autoremove" {
        flags.push("--purge");
    }
    if opts.force {
        flags.push("--force-yes");
    }
    let Some(ran) = report.apt_get(ctx, opts, operation, &flags, &[]).await? else {
        return Ok(report);
    };
    report.changed |= match operation {
        "autoclean" => ran.stdout.lines().any(|l| l.starts_with("Del ")),
        _ => !ran.stdout.contains(APT_GET_ZERO),
    };
    Ok(report)
}

/// `deb`: a .deb on the host, or a URL the host downloads. Installed with
/// apt-get (which pulls in its dependencies) unless that very version is
/// installed already.
async fn install_deb(
    ctx: &ModuleContext<'_>,
    opts: &Options,
    deb: &str,
    mut report: Report,
) -> Result<Report, ModuleError> {
    let url = deb.contains("://");
    let fetch = if url {
        format!(
            "d=$(mktemp -d) || exit 1; f=\"$d/package.deb\"; \
             if command -v curl >/dev/null 2>&1; then curl -fsSL -o \"$f\" -- {q} || {{ rm -rf \"$d\"; exit 3; }}; \
             elif command -v wget >/dev/null 2>&1; then wget -q -O \"$f\" -- {q} || {{ rm -rf \"$d\"; exit 3; }}; \
             else echo 'neither curl nor wget on the host to download the deb' >&2; rm -rf \"$d\"; exit 3; fi; \
             echo \"{MARK} file $f\"; ",
            q = shell_quote(deb)
        )
    } else {
        format!(
            "f={q}; [ -f \"$f\" ] || {{ echo \"$f: no such file\" >&2; exit 3; }}; echo \"{MARK} file $f\"; ",
            q = shell_quote(deb)
        )
    };
    let script = format!(
        "{ENV}{fetch}n=$(dpkg-deb -f \"$f\" Package) && v=$(dpkg-deb -f \"$f\" Version) || exit 4; \
         echo \"{MARK} deb $n $v\"; \
         echo \"{MARK} installed $(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' -- \"$n\" 2>/dev/null)\""
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{MARK} {key}")))
            .map(|v| v.trim().to_string())
    };
    let file = field("file");
    // A downloaded deb lives in its own temporary dir, removed at the end.
    let tmpdir: Option<String> = file
        .as_ref()
        .filter(|_| url)
        .and_then(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()));
    let cleanup = || async {
        if let Some(dir) = &tmpdir {
            let _ = ctx
                .transport
                .exec(&format!("rm -rf {}", shell_quote(dir)), &ctx.exec)
                .await;
        }
    };
    if !out.success() {
        cleanup().await;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        report.failed = Some(match out.exit_code {
            Some(4) => format!("Unable to install package: {deb} is not a valid .deb: {stderr}"),
            _ => format!("Failure downloading or finding {deb}: {stderr}"),
        });
        return Ok(report);
    }
    let (file, version) = match (file, field("deb")) {
        (Some(f), Some(d)) => {
            let v = d.split_once(' ').map_or("", |(_, v)| v).to_string();
            (f, v)
        }
        _ => {
            cleanup().await;
            report.failed = Some(format!("could not read the package fields of {deb}"));
            return Ok(report);
        }
    };
    let installed = field("installed").unwrap_or_default();
    let same = installed.starts_with("ii") && installed.split_whitespace().nth(1) == Some(&version);
    if same && !opts.force {
        cleanup().await;
        return Ok(report);
    }
    // apt-get takes a path (with a slash) as a .deb to install.
    let mut flags: Vec<&str> = Vec::new();
    common_flags(opts, &mut flags);
    let path = if file.starts_with('/') {
        file.clone()
    } else {
        format!("./{file}")
    };
    let ran = report.apt_get(ctx, opts, "install", &flags, &[path]).await;
    cleanup().await;
    report.changed |= ran?.is_some();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_dpkg_and_policy() {
        let text = format!(
            "{MARK} manager apt-get\n{MARK} time 100 200\n{MARK} dpkg\nhello:amd64\tii \t2.10-2\ntree\trc \t2.1.0-1\n\
             {MARK} policy\nhello:\n  Installed: 2.10-2\n  Candidate: 2.10-3\n  Version table:\n     2.10-3 500\n        500 file:/r ./ Packages\n *** 2.10-2 100\n        100 /var/lib/dpkg/status\n\
             tree:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"
        );
        let p = parse_probe(&text, &["hello", "tree", "nosuch"]);
        assert_eq!(p.manager, "apt-get");
        assert_eq!((p.cache_time, p.now), (100, 200));
        let hello = &p.packages["hello"];
        assert_eq!(hello.installed.as_deref(), Some("2.10-2"));
        assert_eq!(hello.candidate.as_deref(), Some("2.10-3"));
        assert_eq!(hello.versions, vec!["2.10-3", "2.10-2"]);
        let tree = &p.packages["tree"];
        assert!(tree.config_files && tree.known && tree.candidate.is_none());
        assert!(!p.packages["nosuch"].known);
    }

    #[test]
    fn changes_from_simulate_and_from_dpkg() {
        let sim = "Inst hello [2.10-2] (2.10-3 local [amd64])\nInst tree (2.1.0-1 local [amd64])\nRemv cowsay [3.03]\nConf hello (2.10-3 local [amd64])\n";
        let c = package_changes(sim);
        assert_eq!(c["hello"], (Some("2.10-2".into()), Some("2.10-3".into())));
        assert_eq!(c["tree"], (None, Some("2.1.0-1".into())));
        assert_eq!(c["cowsay"], (Some("3.03".into()), None));
        let real = "Unpacking hello (2.10-3) over (2.10-2) ...\nSetting up hello (2.10-3) ...\nRemoving tree (2.1.0-1) ...\n";
        let c = package_changes(real);
        assert_eq!(c["hello"], (Some("2.10-2".into()), Some("2.10-3".into())));
        assert_eq!(c["tree"], (Some("2.1.0-1".into()), None));
    }

    #[test]
    fn prepared_is_the_plan_only() {
        let out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nThe following NEW packages will be installed:\n  hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\nSetting up hello\n";
        assert_eq!(
            prepared(out),
            "The following NEW packages will be installed:\n  hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded."
        );
    }
}
