//! `git`: check out a repository on the host, as Ansible's
//! `ansible.builtin.git` does: clone when `dest` holds no repository,
//! otherwise fetch and move the work tree to `version` (a branch, a tag or
//! a commit; the remote's HEAD by default). Runs the host's git; local
//! modifications fail the task unless `force` discards them. Check mode
//! asks the remote (`git ls-remote`) what `version` is and changes nothing.
//! Results carry Ansible's `before`, `after` and `remote_url_changed`;
//! `--diff` shows `git diff before after`.
//!
//! Not supported: `archive`/`archive_prefix`, `refspec`,
//! `separate_git_dir`, `verify_commit`, `gpg_whitelist`, `git_filter`
//! (docs/ansible-differences.md).

use serde_json::{Value, json};

use super::args::Args;
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{ExecOutput, shell_quote};

/// git, as a task writes it.
pub const MODULE: Module = Module {
    name: "git",
    params: &[
        alias("repo", &["name"]),
        p("dest"),
        p("version"),
        p("clone"),
        p("update"),
        p("force"),
        p("depth"),
        p("single_branch"),
        p("remote"),
        p("bare"),
        p("accept_hostkey"),
        p("accept_newhostkey"),
        p("key_file"),
        p("ssh_opts"),
        p("umask"),
        p("recursive"),
        p("track_submodules"),
        p("reference"),
        p("executable"),
    ],
    required: &[&["repo"]],
    exclusive: &[("accept_hostkey", "accept_newhostkey")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Why a run stopped early: a failed result, or a module error.
enum Stop {
    Fail(Box<ModuleOutput>),
    Err(ModuleError),
}

impl From<ModuleError> for Stop {
    fn from(e: ModuleError) -> Stop {
        Stop::Err(e)
    }
}

impl From<crate::remote::TransportError> for Stop {
    fn from(e: crate::remote::TransportError) -> Stop {
        Stop::Err(e.into())
    }
}

type Step<T> = Result<T, Stop>;

/// What the task asks for.
struct Want {
    repo: String,
    dest: Option<String>,
    version: String,
    remote: String,
    clone: bool,
    update: bool,
    force: bool,
    bare: bool,
    depth: Option<i64>,
    single_branch: bool,
    reference: Option<String>,
    recursive: bool,
    track_submodules: bool,
}

/// The host's git, run the way the task asks (umask, ssh options).
struct Git<'a> {
    ctx: &'a ModuleContext<'a>,
    /// umask and GIT_SSH_COMMAND, before every git command.
    prelude: String,
    exe: String,
    want: Want,
    /// The result fields gathered so far (`before`, `after`, ...).
    data: Vars,
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let mut git = Git::new(ctx, &args)?;
    match git.run().await {
        Ok(out) => Ok(out),
        Err(Stop::Fail(out)) => Ok(*out),
        Err(Stop::Err(e)) => Err(e),
    }
}

/// A path for the shell: quoted, with a leading `~` left to the host's
/// `$HOME` as Ansible's `type='path'` expands it.
pub(super) fn path_word(path: &str) -> String {
    if path == "~" {
        "\"$HOME\"".into()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("\"$HOME\"/{}", shell_quote(rest))
    } else {
        shell_quote(path)
    }
}

/// An octal umask (`"0022"`), checked as Ansible does.
pub(super) fn umask_arg(args: &Args<'_>) -> Result<Option<String>, ModuleError> {
    match args.value(&["umask"]) {
        None => Ok(None),
        Some((_, Value::String(s))) => {
            let s = s.trim();
            if !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                Ok(Some(s.to_string()))
            } else {
                Err(args.error(format!("umask must be an octal integer, got {s:?}")))
            }
        }
        // YAML reads `0022` as the number 18: Ansible refuses it too.
        Some(_) => Err(args.error("umask must be defined as a quoted octal integer")),
    }
}

impl<'a> Git<'a> {
    fn new(ctx: &'a ModuleContext<'a>, args: &Args<'_>) -> Result<Git<'a>, ModuleError> {
        let mut repo = args.required(&["repo"])?;
        // A path is a file:// URL, so that depth works (as Ansible).
        if repo.starts_with('/') {
            repo = format!("file://{repo}");
        }
        let dest = args.str("dest")?.filter(|d| !d.is_empty());
        let clone = args.bool("clone", true)?;
        if dest.is_none() && clone {
            return Err(args.error("the destination directory must be specified unless clone=no"));
        }
        let depth = args.int("depth")?;
        if depth.is_some_and(|d| d < 1) {
            return Err(args.error("depth must be a positive number"));
        }
        let want = Want {
            repo,
            dest,
            version: args.str("version")?.unwrap_or_else(|| "HEAD".into()),
            remote: args.str("remote")?.unwrap_or_else(|| "origin".into()),
            clone,
            update: args.bool("update", true)?,
            force: args.bool("force", false)?,
            bare: args.bool("bare", false)?,
            depth,
            single_branch: args.bool("single_branch", false)?,
            reference: args.str("reference")?,
            recursive: args.bool("recursive", true)?,
            track_submodules: args.bool("track_submodules", false)?,
        };

        // git runs ssh for ssh:// and scp-like URLs: never a prompt, and the
        // task's key and host key policy.
        let mut ssh_opts = args.str("ssh_opts")?.unwrap_or_default();
        if args.bool("accept_hostkey", false)? && !ssh_opts.contains("StrictHostKeyChecking=") {
            ssh_opts.push_str(" -o StrictHostKeyChecking=no");
        }
        if args.bool("accept_newhostkey", false)? && !ssh_opts.contains("StrictHostKeyChecking=") {
            ssh_opts.push_str(" -o StrictHostKeyChecking=accept-new");
        }
        if !ssh_opts.contains("BatchMode=yes") {
            ssh_opts.push_str(" -o BatchMode=yes");
        }
        if let Some(key) = args.str("key_file")? {
            ssh_opts.push_str(&format!(" -i {} -o IdentitiesOnly=yes", path_word(&key)));
        }
        let mut prelude = String::new();
        if let Some(umask) = umask_arg(args)? {
            prelude.push_str(&format!("umask {umask} || exit 1; "));
        }
        prelude.push_str(&format!(
            "GIT_SSH_COMMAND=\"${{GIT_SSH:-${{GIT_SSH_COMMAND:-ssh}}}}\"{}; export GIT_SSH_COMMAND; ",
            shell_quote(&format!(" {}", ssh_opts.trim_start()))
        ));
        let exe = args.str("executable")?.unwrap_or_else(|| "git".into());

        let mut data = Vars::new();
        data.insert("before".into(), Value::Null);
        Ok(Git {
            ctx,
            prelude,
            exe,
            want,
            data,
        })
    }

    /// Runs git with `args` in `dir` (the dest, or the login directory).
    async fn git(&self, dir: Option<&str>, args: &[&str]) -> Result<ExecOutput, ModuleError> {
        let mut command = self.prelude.clone();
        if let Some(dir) = dir {
            command.push_str(&format!("cd -- {} || exit 1; ", path_word(dir)));
        }
        command.push_str("exec ");
        command.push_str(&path_word(&self.exe));
        for a in args {
            command.push(' ');
            command.push_str(&shell_quote(a));
        }
        let mut exec = self.ctx.exec.clone();
        // git's messages are read: the C locale, as Ansible.
        exec.env.push(("LC_ALL".into(), "C".into()));
        Ok(self.ctx.transport.exec(&command, &exec).await?)
    }

    /// Runs git and fails the task with `what` unless it exits 0.
    async fn must(&self, dir: Option<&str>, args: &[&str], what: &str) -> Step<ExecOutput> {
        let out = self.git(dir, args).await?;
        if out.success() {
            return Ok(out);
        }
        let stderr = text(&out.stderr);
        Err(self.fail(format!("{what}: {}", stderr.trim()), Some((args, &out))))
    }

    /// A failed result with the fields gathered so far.
    fn fail(&self, msg: String, command: Option<(&[&str], &ExecOutput)>) -> Stop {
        let mut out = ModuleOutput::failed(msg);
        for (k, v) in &self.data {
            out.data.insert(k.clone(), v.clone());
        }
        if let Some((args, ran)) = command {
            let mut cmd = vec![self.exe.clone()];
            cmd.extend(args.iter().map(|a| a.to_string()));
            out.data.insert("cmd".into(), json!(cmd.join(" ")));
            out.data
                .insert("rc".into(), json!(super::command_run::rc(ran)));
            out.data.insert("stdout".into(), json!(text(&ran.stdout)));
            out.data.insert("stderr".into(), json!(text(&ran.stderr)));
        }
        Stop::Fail(Box::new(out))
    }

    fn dest(&self) -> &str {
        self.want.dest.as_deref().unwrap_or(".")
    }

    async fn run(&mut self) -> Step<ModuleOutput> {
        let has_repo = self.probe().await?;
        if !has_repo {
            let remote_head = if self.ctx.check_mode || !self.want.clone {
                // Only asked what the remote has (or would be cloned).
                Some(self.remote_head(false).await?)
            } else {
                self.clone_repo().await?;
                None
            };
            if let Some(head) = remote_head {
                self.data.insert("after".into(), json!(head));
                let mut out = self.output(true);
                if self.ctx.diff {
                    self.new_checkout_diff(&mut out, &head);
                }
                return Ok(out);
            }
            let mut local_mods = false;
            return self.finish(&mut local_mods, false).await;
        }
        if !self.want.update {
            // A repository is there: report where it is, change nothing.
            let head = self.rev_parse("HEAD").await?;
            self.data.insert("before".into(), json!(head));
            self.data.insert("after".into(), json!(head));
            return Ok(self.output(false));
        }

        let mut local_mods = self.local_mods().await?;
        let before = self.rev_parse("HEAD").await?;
        self.data.insert("before".into(), json!(before));
        if local_mods {
            if !self.want.force {
                return Err(self.fail(
                    format!(
                        "Local modifications exist in the destination: {} (force=no).",
                        self.dest()
                    ),
                    None,
                ));
            }
            if !self.ctx.check_mode {
                self.must(
                    Some(self.dest()),
                    &["reset", "--hard", "HEAD"],
                    "Failed to discard local modifications",
                )
                .await?;
            }
            self.data.insert(
                "msg".into(),
                json!(format!(
                    "Local modifications exist in the destination: {}",
                    self.dest()
                )),
            );
        }

        let url_changed = self.remote_url_changed().await?;
        self.data
            .insert("remote_url_changed".into(), json!(url_changed));
        if self.ctx.check_mode {
            let head = self.remote_head(true).await?;
            let changed = before != head || url_changed || local_mods;
            self.data.insert("after".into(), json!(head));
            let mut out = self.output(changed);
            if self.ctx.diff && before != head {
                self.diff(&mut out, &before, &head).await?;
            }
            return Ok(out);
        }
        self.fetch().await?;
        self.finish(&mut local_mods, url_changed).await
    }

    /// Moves the work tree to `version`, updates submodules and reports.
    async fn finish(&mut self, local_mods: &mut bool, url_changed: bool) -> Step<ModuleOutput> {
        if !self.want.bare {
            self.switch_version().await?;
        }
        let mut submodules = false;
        if self.want.recursive && !self.want.bare {
            submodules = self.submodules().await?;
            if submodules {
                self.data.insert("submodules_changed".into(), json!(true));
            }
        }
        let after = self.rev_parse("HEAD").await?;
        self.data.insert("after".into(), json!(after));
        let before = self.data["before"].as_str().map(String::from);
        let changed =
            before.as_deref() != Some(after.as_str()) || *local_mods || submodules || url_changed;
        let mut out = self.output(changed);
        if changed && self.ctx.diff {
            match before {
                None => self.new_checkout_diff(&mut out, &after),
                Some(before) if before != after => self.diff(&mut out, &before, &after).await?,
                Some(_) => {}
            }
        }
        Ok(out)
    }

    fn output(&self, changed: bool) -> ModuleOutput {
        ModuleOutput {
            changed,
            msg: self
                .data
                .get("msg")
                .and_then(Value::as_str)
                .map(String::from),
            data: self.data.clone(),
            ..ModuleOutput::default()
        }
    }

    /// Whether git is there, and whether `dest` holds a repository.
    async fn probe(&self) -> Step<bool> {
        let exe = path_word(&self.exe);
        let mut command = format!(
            "command -v {exe} >/dev/null 2>&1 || {{ echo nogit; exit 0; }}; {exe} --version >/dev/null 2>&1 || {{ echo broken; exit 0; }}; "
        );
        if let Some(dest) = &self.want.dest {
            let config = if self.want.bare { "config" } else { ".git" };
            command.push_str(&format!(
                "if [ -e {}/{config} ]; then echo repo; else echo none; fi",
                path_word(dest)
            ));
        } else {
            command.push_str("echo none");
        }
        let out = self.ctx.transport.exec(&command, &self.ctx.exec).await?;
        match text(&out.stdout).trim() {
            "repo" => Ok(true),
            "none" => Ok(false),
            "nogit" => Err(self.fail(
                format!(
                    "git is not installed on {}: install it (apt-get install git, or an `apt: name=git` task before this one) or set `executable` to its path",
                    self.ctx.host
                ),
                None,
            )),
            _ => Err(self.fail(
                format!(
                    "{} on {} does not run ({}): install git or set `executable` to its path",
                    self.exe,
                    self.ctx.host,
                    text(&out.stderr).trim()
                ),
                None,
            )),
        }
    }

    /// The commit `rev` names in dest.
    async fn rev_parse(&self, rev: &str) -> Step<String> {
        let out = self
            .must(
                Some(self.dest()),
                &["rev-parse", rev],
                "Failed to read the checked out revision",
            )
            .await?;
        Ok(text(&out.stdout).trim().to_string())
    }

    /// Changes to tracked files (untracked ones do not count, as Ansible).
    async fn local_mods(&self) -> Step<bool> {
        if self.want.bare {
            return Ok(false);
        }
        // A tracked submodule ahead of the recorded commit is this
        // module's doing, not a local modification.
        let mut args = vec!["status", "--porcelain"];
        if self.want.track_submodules {
            args.push("--ignore-submodules=all");
        }
        let out = self
            .must(
                Some(self.dest()),
                &args,
                "Failed to read the work tree's status",
            )
            .await?;
        Ok(text(&out.stdout)
            .lines()
            .any(|l| !l.is_empty() && !l.starts_with("??")))
    }

    /// Whether the remote's URL differs from `repo`; set to `repo` unless
    /// in check mode.
    async fn remote_url_changed(&self) -> Step<bool> {
        let dest = Some(self.dest());
        let out = self
            .git(dest, &["ls-remote", "--get-url", &self.want.remote])
            .await?;
        if !out.success() {
            return Ok(false);
        }
        let current = text(&out.stdout).trim().to_string();
        if same_url(&current, &self.want.repo) {
            return Ok(false);
        }
        if !self.ctx.check_mode {
            self.must(
                dest,
                &["remote", "set-url", &self.want.remote, &self.want.repo],
                &format!(
                    "Failed to set a new url {} for {}",
                    self.want.repo, self.want.remote
                ),
            )
            .await?;
        }
        Ok(true)
    }

    /// `ls-remote` for `pattern` (of `kind`, `--heads` or `--tags`): of the
    /// remote in dest, or of `repo` before there is a clone.
    async fn ls_remote(&self, in_dest: bool, kind: Option<&str>, pattern: &str) -> Step<String> {
        let remote = if in_dest {
            self.want.remote.clone()
        } else {
            self.want.repo.clone()
        };
        let dir = in_dest.then(|| self.dest());
        let mut args = vec!["ls-remote", remote.as_str()];
        args.extend(kind);
        args.push(pattern);
        let out = self
            .must(
                dir,
                &args,
                &format!("Failed to list the remote's refs ({remote})"),
            )
            .await?;
        Ok(text(&out.stdout))
    }

    async fn is_remote_branch(&self, in_dest: bool) -> Step<bool> {
        let v = &self.want.version;
        let out = self
            .ls_remote(in_dest, Some("--heads"), &format!("refs/heads/{v}"))
            .await?;
        Ok(out.contains(v.as_str()))
    }

    async fn is_remote_tag(&self, in_dest: bool) -> Step<bool> {
        let v = &self.want.version;
        let out = self
            .ls_remote(in_dest, Some("--tags"), &format!("refs/tags/{v}"))
            .await?;
        Ok(out.contains(v.as_str()))
    }

    /// The commit `version` names on the remote (a commit id is taken as
    /// it is: a remote cannot be asked for one).
    async fn remote_head(&self, in_dest: bool) -> Step<String> {
        let v = self.want.version.clone();
        let (kind, pattern, tag) = if v == "HEAD" {
            if in_dest {
                let branch = self.head_branch().await?;
                (Some("--heads"), format!("refs/heads/{branch}"), false)
            } else {
                (None, "HEAD".to_string(), false)
            }
        } else if self.is_remote_branch(in_dest).await? {
            (Some("--heads"), format!("refs/heads/{v}"), false)
        } else if self.is_remote_tag(in_dest).await? {
            (Some("--tags"), format!("refs/tags/{v}*"), true)
        } else {
            return Ok(v);
        };
        let out = self.ls_remote(in_dest, kind, &pattern).await?;
        let mut line = out.lines().next().unwrap_or("").to_string();
        if tag {
            // An annotated tag: the commit it points to (`^{}`).
            for l in out.lines() {
                if l.ends_with(&format!("{v}^{{}}")) {
                    line = l.to_string();
                    break;
                } else if l.ends_with(v.as_str()) {
                    line = l.to_string();
                }
            }
        }
        match line.split_whitespace().next() {
            Some(sha) => Ok(sha.to_string()),
            None => Err(self.fail(format!("Could not determine remote revision for {v}"), None)),
        }
    }

    /// The branch HEAD is on; for a detached HEAD, the remote's default.
    async fn head_branch(&self) -> Step<String> {
        let dest = Some(self.dest());
        let out = self.git(dest, &["symbolic-ref", "-q", "HEAD"]).await?;
        if out.success() {
            let r = text(&out.stdout).trim().to_string();
            return Ok(r.strip_prefix("refs/heads/").unwrap_or(&r).to_string());
        }
        let remote_head = format!("refs/remotes/{}/HEAD", self.want.remote);
        let out = self
            .must(
                dest,
                &["symbolic-ref", "-q", &remote_head],
                "Failed to find the branch HEAD follows",
            )
            .await?;
        let r = text(&out.stdout).trim().to_string();
        let prefix = format!("refs/remotes/{}/", self.want.remote);
        Ok(r.strip_prefix(&prefix).unwrap_or(&r).to_string())
    }

    async fn clone_repo(&self) -> Step<()> {
        let dest = self.dest().to_string();
        let mut args: Vec<String> = vec!["clone".into()];
        if self.want.bare {
            args.push("--bare".into());
        } else {
            args.extend(["--origin".into(), self.want.remote.clone()]);
        }
        let v = &self.want.version;
        let named = v != "HEAD"
            && (self.is_remote_branch(false).await? || self.is_remote_tag(false).await?);
        if let Some(depth) = self.want.depth {
            if v == "HEAD" || named {
                args.extend(["--depth".into(), depth.to_string()]);
            }
            if named {
                args.extend(["--branch".into(), v.clone()]);
            }
        }
        if let Some(reference) = &self.want.reference {
            args.extend(["--reference".into(), reference.clone()]);
        }
        if self.want.single_branch {
            args.push("--single-branch".into());
            if named && self.want.depth.is_none() {
                args.extend(["--branch".into(), v.clone()]);
            }
        }
        args.extend(["--".into(), self.want.repo.clone(), dest.clone()]);
        // The parent directory is made as Ansible does.
        let parent = format!(
            "{}mkdir -p -- \"$(dirname -- {})\"",
            self.prelude,
            path_word(&dest)
        );
        self.ctx.transport.exec(&parent, &self.ctx.exec).await?;
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.must(None, &refs, "Failed to clone").await?;
        if self.want.bare && self.want.remote != "origin" {
            self.must(
                Some(&dest),
                &["remote", "add", &self.want.remote, &self.want.repo],
                "Failed to add the remote",
            )
            .await?;
        }
        Ok(())
    }

    /// Fetches what `version` needs (every branch and tag, or with
    /// `depth` only the ref asked for).
    async fn fetch(&self) -> Step<()> {
        let remote = self.want.remote.clone();
        let v = self.want.version.clone();
        let mut refspecs: Vec<String> = Vec::new();
        let mut args: Vec<String> = vec!["fetch".into()];
        if let Some(depth) = self.want.depth {
            if v == "HEAD" {
                refspecs.push(self.head_branch().await?);
            } else if self.is_remote_branch(true).await? {
                refspecs.push(format!("+refs/heads/{v}:refs/remotes/{remote}/{v}"));
            } else if self.is_remote_tag(true).await? {
                refspecs.push(format!("+refs/tags/{v}:refs/tags/{v}"));
            }
            if !refspecs.is_empty() {
                args.extend(["--depth".into(), depth.to_string()]);
            }
        }
        if refspecs.is_empty() {
            if self.want.bare {
                refspecs = vec![
                    "+refs/heads/*:refs/heads/*".into(),
                    "+refs/tags/*:refs/tags/*".into(),
                ];
            } else {
                args.push("--tags".into());
            }
        }
        if self.want.force {
            args.push("--force".into());
        }
        args.push(remote);
        args.extend(refspecs);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.must(
            Some(self.dest()),
            &refs,
            "Failed to download remote objects and refs",
        )
        .await?;
        Ok(())
    }

    async fn is_local_branch(&self, branch: &str) -> Step<bool> {
        let out = self
            .git(
                Some(self.dest()),
                &[
                    "show-ref",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ],
            )
            .await?;
        Ok(out.success())
    }

    /// Checks out `version` (a branch follows its remote branch).
    async fn switch_version(&self) -> Step<()> {
        let dest = Some(self.dest());
        let remote = &self.want.remote;
        let v = &self.want.version;
        let failed = format!("Failed to checkout {v}");
        if v == "HEAD" {
            let branch = self.head_branch().await?;
            let failed = format!("Failed to checkout branch {branch}");
            self.must(dest, &["checkout", "--force", &branch], &failed)
                .await?;
            let target = format!("{remote}/{branch}");
            self.must(dest, &["reset", "--hard", &target, "--"], &failed)
                .await?;
        } else if self.is_remote_branch(true).await? {
            if self.want.depth.is_some() && !self.is_local_branch(v).await? {
                // A shallow clone has only its own branch: fetch this one.
                let refspec = format!(
                    "+refs/heads/{v}:refs/heads/{v} +refs/heads/{v}:refs/remotes/{remote}/{v}"
                );
                let depth = format!("--depth={}", self.want.depth.unwrap_or(1));
                let mut args = vec!["fetch", depth.as_str(), remote.as_str()];
                args.extend(refspec.split(' '));
                self.must(
                    dest,
                    &args,
                    &format!("Failed to fetch branch from remote: {v}"),
                )
                .await?;
            }
            let target = format!("{remote}/{v}");
            if self.is_local_branch(v).await? {
                self.must(dest, &["checkout", "--force", v], &failed)
                    .await?;
                self.must(dest, &["reset", "--hard", &target], &failed)
                    .await?;
            } else {
                self.must(dest, &["checkout", "--track", "-b", v, &target], &failed)
                    .await?;
            }
        } else {
            self.must(dest, &["checkout", "--force", v], &failed)
                .await?;
        }
        Ok(())
    }

    /// Initialises and updates submodules when they are missing or behind
    /// (with `track_submodules`, behind their remote's default branch).
    async fn submodules(&self) -> Step<bool> {
        let dest = Some(self.dest());
        let probe = format!(
            "[ -f {}/.gitmodules ] && echo yes || echo no",
            path_word(self.dest())
        );
        let out = self.ctx.transport.exec(&probe, &self.ctx.exec).await?;
        if text(&out.stdout).trim() != "yes" {
            return Ok(false);
        }
        let status = self
            .must(
                dest,
                &["submodule", "status"],
                "Failed to retrieve submodule status",
            )
            .await?;
        // ' ' is checked out as recorded; '-' not initialised, '+' other.
        // A tracked submodule is judged against its remote instead.
        let mut changed = text(&status.stdout)
            .lines()
            .any(|l| match l.chars().next() {
                None | Some(' ') => false,
                Some('+') => !self.want.track_submodules,
                Some(_) => true,
            });
        if !changed && self.want.track_submodules {
            let exe = self.exe.clone();
            self.must(
                dest,
                &["submodule", "foreach", &exe, "fetch"],
                "Failed to fetch submodules",
            )
            .await?;
            let here = self
                .must(
                    dest,
                    &["submodule", "foreach", &exe, "rev-parse", "HEAD"],
                    "Unable to determine hashes of submodules",
                )
                .await?;
            let there = self
                .must(
                    dest,
                    &["submodule", "foreach", &exe, "rev-parse", "origin/HEAD"],
                    "Unable to determine hashes of submodules",
                )
                .await?;
            changed = here.stdout != there.stdout;
        }
        if !changed {
            return Ok(false);
        }
        self.must(dest, &["submodule", "sync"], "Failed to sync submodules")
            .await?;
        let mut args = vec!["submodule", "update", "--init", "--recursive"];
        if self.want.track_submodules {
            args.push("--remote");
        }
        if self.want.force {
            args.push("--force");
        }
        self.must(dest, &args, "Failed to init/update submodules")
            .await?;
        Ok(true)
    }

    /// `--diff` of a fresh checkout: its commit.
    fn new_checkout_diff(&self, out: &mut ModuleOutput, after: &str) {
        out.data.insert(
            "diff".into(),
            json!({"prepared": format!(">> Newly checked out {after}")}),
        );
        out.diffs.push(FileDiff {
            path: self.dest().to_string(),
            before: None,
            after: Some(format!("{after}\n")),
        });
    }

    /// `--diff` between two commits: `git diff`, when both are here (in
    /// check mode the new one may not have been fetched, and check mode
    /// fetches nothing).
    async fn diff(&self, out: &mut ModuleOutput, before: &str, after: &str) -> Step<()> {
        let ran = self
            .git(Some(self.dest()), &["diff", before, after])
            .await?;
        let prepared = if ran.success() && !ran.stdout.is_empty() {
            text(&ran.stdout)
        } else if ran.success() {
            format!(">> No visual differences between {before} and {after}")
        } else {
            format!(
                ">> Failed to get proper diff between {before} and {after}:\n>> {}",
                text(&ran.stderr).trim()
            )
        };
        out.data
            .insert("diff".into(), json!({ "prepared": prepared }));
        out.diffs.push(FileDiff {
            path: self.dest().to_string(),
            before: Some(format!("{before}\n")),
            after: Some(format!("{after}\n")),
        });
        Ok(())
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether two remote URLs name the same repository (a trailing slash and
/// a `file://` scheme aside).
fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        let u = u.strip_prefix("file://").unwrap_or(u);
        u.trim_end_matches('/').to_string()
    };
    a == b || norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_without_scheme_or_trailing_slash() {
        assert!(same_url("file:///srv/r.git", "/srv/r.git/"));
        assert!(!same_url("file:///srv/a", "file:///srv/b"));
    }

    #[test]
    fn home_paths_stay_unquoted() {
        assert_eq!(path_word("~/src/x y"), "\"$HOME\"/'src/x y'");
        assert_eq!(path_word("/srv/app"), "/srv/app");
    }
}
