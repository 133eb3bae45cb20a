//! `user`: a local account present (uid, groups, home, shell, password
//! hash, expiry, password ageing, ssh key) or absent, through shadow-utils'
//! useradd/usermod/userdel and chage, as Ansible's Linux user module does.
//!
//! One round trip reads the account (`getent passwd`, `shadow`, `group`)
//! and whether its home exists; the module then decides the one
//! useradd/usermod/userdel command line that gets there, runs it (not in
//! check mode) and reads the account again for the result. A missing home
//! is created from the skeleton, a requested ssh key generated, password
//! ageing set with chage: each step reports `changed` like Ansible's.

use serde_json::{Value, json};

use super::accounts::{self, Group, Passwd, Shadow, find_group, tagged};
use super::args::Args;
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// user, as a task writes it.
pub const MODULE: Module = Module {
    name: "user",
    params: &[
        alias("name", &["user"]),
        p("state"),
        p("uid"),
        p("non_unique"),
        p("group"),
        p("groups"),
        p("append"),
        p("comment"),
        p("home"),
        p("shell"),
        p("password"),
        p("update_password"),
        p("password_lock"),
        p("force"),
        p("remove"),
        alias("create_home", &["createhome"]),
        p("move_home"),
        p("skeleton"),
        p("system"),
        p("expires"),
        p("password_expire_min"),
        p("password_expire_max"),
        p("password_expire_warn"),
        p("password_expire_account_disable"),
        p("umask"),
        p("uid_min"),
        p("uid_max"),
        p("local"),
        p("seuser"),
        p("generate_ssh_key"),
        p("ssh_key_bits"),
        p("ssh_key_type"),
        p("ssh_key_file"),
        p("ssh_key_comment"),
        p("ssh_key_passphrase"),
        // macOS, BSD and Solaris only: accepted and ignored on Linux, as
        // Ansible's Linux implementation does.
        p("hidden"),
        p("login_class"),
        p("profile"),
        p("authorization"),
        p("role"),
    ],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// The task's arguments, read once.
struct Params {
    name: String,
    present: bool,
    uid: Option<i64>,
    non_unique: bool,
    group: Option<String>,
    /// `Some("")`: no supplementary groups at all.
    groups: Option<String>,
    append: bool,
    comment: Option<String>,
    home: Option<String>,
    shell: Option<String>,
    password: Option<String>,
    update_always: bool,
    password_lock: Option<bool>,
    force: bool,
    remove: bool,
    create_home: bool,
    move_home: bool,
    skeleton: Option<String>,
    system: bool,
    /// Seconds since the epoch.
    expires: Option<f64>,
    expire_min: Option<i64>,
    expire_max: Option<i64>,
    expire_warn: Option<i64>,
    inactive: Option<i64>,
    umask: Option<String>,
    uid_min: Option<i64>,
    uid_max: Option<i64>,
    seuser: Option<String>,
    ssh: Option<SshKey>,
}

/// `generate_ssh_key` and its settings.
struct SshKey {
    bits: i64,
    kind: String,
    file: String,
    comment: Option<String>,
    passphrase: Option<String>,
}

fn params(args: &Args) -> Result<Result<Params, String>, ModuleError> {
    let local = args.bool("local", false)?;
    let umask = args.str("umask")?;
    let uid_min = args.int("uid_min")?;
    let uid_max = args.int("uid_max")?;
    if local {
        if umask.is_some() {
            return Ok(Err("'umask' can not be used with 'local'".into()));
        }
        for (name, v) in [("uid_min", uid_min), ("uid_max", uid_max)] {
            if v.is_some() {
                return Ok(Err(format!("'{name}' can not be used with 'local'")));
            }
        }
        return Ok(Err(
            "local: true needs libuser (luseradd), which herd does not support; \
             use the user module without local"
                .into(),
        ));
    }
    let kind = args
        .str("ssh_key_type")?
        .unwrap_or_else(|| "rsa".to_string());
    let ssh = args
        .bool("generate_ssh_key", false)?
        .then(|| -> Result<SshKey, ModuleError> {
            Ok(SshKey {
                bits: args.int("ssh_key_bits")?.unwrap_or(0),
                file: args
                    .str("ssh_key_file")?
                    .unwrap_or_else(|| format!(".ssh/id_{kind}")),
                kind: kind.clone(),
                comment: args.str("ssh_key_comment")?,
                passphrase: args.str("ssh_key_passphrase")?,
            })
        });
    Ok(Ok(Params {
        name: args.required(&["name"])?,
        present: args
            .choice("state", &["present", "absent"], Some("present"))?
            .as_deref()
            == Some("present"),
        uid: args.int("uid")?,
        non_unique: args.bool("non_unique", false)?,
        group: args.str("group")?,
        // Ansible joins the list with commas and splits it again.
        groups: args.list("groups")?.map(|g| g.join(",")),
        append: args.bool("append", false)?,
        comment: args.str("comment")?,
        home: args.str("home")?,
        shell: args.str("shell")?,
        password: args.str("password")?,
        update_always: args
            .choice("update_password", &["always", "on_create"], Some("always"))?
            .as_deref()
            == Some("always"),
        password_lock: args.opt_bool("password_lock")?,
        force: args.bool("force", false)?,
        remove: args.bool("remove", false)?,
        create_home: args.bool("create_home", true)?,
        move_home: args.bool("move_home", false)?,
        skeleton: args.str("skeleton")?,
        system: args.bool("system", false)?,
        expires: args.float("expires")?,
        expire_min: args.int("password_expire_min")?,
        expire_max: args.int("password_expire_max")?,
        expire_warn: args.int("password_expire_warn")?,
        inactive: args.int("password_expire_account_disable")?,
        umask,
        uid_min,
        uid_max,
        seuser: args.str("seuser")?,
        ssh: ssh.transpose()?,
    }))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let mut p = match params(&args)? {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    // Paths, as Ansible's `type: path` (home, shell since 2.18, the key
    // file): `~` and `~user` expanded on the host.
    for path in [&mut p.home, &mut p.shell] {
        if let Some(value) = path.as_mut() {
            *value = super::remote_file::expand_user(ctx, value).await?;
        }
    }
    if let Some(key) = p.ssh.as_mut() {
        key.file = super::remote_file::expand_user(ctx, &key.file).await?;
    }
    let mut warnings = Vec::new();
    if let Some(password) = &p.password
        && !looks_hashed(password)
    {
        warnings.push(
            "The input password appears not to have been hashed. The 'password' argument \
             must be encrypted for this module to work properly.",
        );
    }
    if p.append && p.groups.is_none() {
        warnings.push("'append' is set, but no 'groups' are specified. Use 'groups' for appending new groups.");
    }
    let mut data = Vars::new();
    data.insert("name".into(), json!(p.name));
    data.insert(
        "state".into(),
        json!(if p.present { "present" } else { "absent" }),
    );
    if !warnings.is_empty() {
        data.insert("warnings".into(), json!(warnings));
    }

    let before = probe(ctx, &p).await?;
    let mut changed = false;
    if !p.present {
        if before.passwd.is_some() {
            if ctx.check_mode {
                return Ok(only_changed());
            }
            let mut argv = vec!["userdel".to_string()];
            if p.force {
                argv.push("-f".into());
            }
            if p.remove {
                argv.push("-r".into());
            }
            argv.push(p.name.clone());
            let line = accounts::command_line(&argv);
            if let Err(failed) = accounts::run_command(ctx, &p.name, &line, &mut data).await? {
                return Ok(failed);
            }
            data.insert("force".into(), json!(p.force));
            data.insert("remove".into(), json!(p.remove));
            changed = true;
        }
        return Ok(ModuleOutput {
            changed,
            data,
            ..ModuleOutput::default()
        });
    }

    match &before.passwd {
        None => {
            if ctx.check_mode {
                return Ok(only_changed());
            }
            let argv = match useradd(&p, &before.groups) {
                Ok(argv) => argv,
                Err(msg) => return Ok(ModuleOutput::failed(msg)),
            };
            // useradd cannot create missing parents of the home: make the
            // home from the skeleton first, and own it once the user exists.
            let needs_parents = p.create_home && p.home.is_some() && !before.home_parent_is_dir;
            let mut script = String::new();
            if let (true, Some(home)) = (needs_parents, &p.home) {
                script.push_str(&create_homedir(home, p.skeleton.as_deref()));
                script.push_str(" || exit 1\n");
            }
            script.push_str(&accounts::command_line(&argv));
            if let (true, Some(home)) = (needs_parents, &p.home) {
                script.push_str(&format!(
                    " && chown -hR -- {}: {}",
                    shell_quote(&p.name),
                    shell_quote(home)
                ));
            }
            if let Err(failed) = accounts::run_command(ctx, &p.name, &script, &mut data).await? {
                return Ok(failed);
            }
            data.insert("system".into(), json!(p.system));
            data.insert("create_home".into(), json!(p.create_home));
            changed = true;
        }
        Some(passwd) => {
            let argv = match usermod(&p, passwd, before.shadow.as_ref(), &before.groups) {
                Ok(argv) => argv,
                Err(msg) => return Ok(ModuleOutput::failed(msg)),
            };
            if let Some(argv) = argv {
                changed = true;
                if !ctx.check_mode {
                    let line = accounts::command_line(&argv);
                    if let Err(failed) =
                        accounts::run_command(ctx, &p.name, &line, &mut data).await?
                    {
                        return Ok(failed);
                    }
                }
            }
            data.insert("append".into(), json!(p.append));
            data.insert("move_home".into(), json!(p.move_home));
        }
    }
    if p.password.is_some() {
        data.insert("password".into(), json!("NOT_LOGGING_PASSWORD"));
    }

    let after = if changed && !ctx.check_mode {
        probe(ctx, &p).await?
    } else {
        before
    };
    let Some(info) = &after.passwd else {
        return Ok(ModuleOutput {
            changed,
            data,
            ..ModuleOutput::default()
        });
    };
    data.insert("uid".into(), json!(info.uid));
    data.insert("group".into(), json!(info.gid));
    data.insert("comment".into(), json!(info.comment));
    data.insert("home".into(), json!(info.home));
    data.insert("shell".into(), json!(info.shell));
    if let Some(groups) = &p.groups {
        data.insert("groups".into(), json!(groups));
    }

    // A missing home is made, as Ansible does for an existing account.
    let home = p.home.clone().unwrap_or_else(|| info.home.clone());
    let mut home_exists = after.home_exists;
    if !home_exists && p.create_home {
        if !ctx.check_mode {
            let script = format!(
                "{} && chown -hR -- {}:{} {}",
                create_homedir(&home, p.skeleton.as_deref()),
                info.uid,
                info.gid,
                shell_quote(&home)
            );
            let out = exec(ctx, &script).await?;
            if !out.success() {
                return Ok(accounts::command_failed(&p.name, &out));
            }
            home_exists = true;
        }
        changed = true;
    }

    if let Some(key) = &p.ssh {
        match ssh_key(ctx, &p.name, key, p.force, info, home_exists, &mut data).await? {
            Ok(generated) => changed |= generated,
            Err(failed) => return Ok(failed),
        }
    }

    if let Some(argv) = chage(&p, after.shadow.as_ref()) {
        changed = true;
        if !ctx.check_mode {
            let out = exec(ctx, &accounts::command_line(&argv)).await?;
            if !out.success() {
                return Ok(accounts::command_failed(&p.name, &out));
            }
        }
    }
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}

/// Ansible's check-mode answer for an add or a delete: `changed` only.
fn only_changed() -> ModuleOutput {
    ModuleOutput {
        changed: true,
        ..ModuleOutput::default()
    }
}

async fn exec(
    ctx: &ModuleContext<'_>,
    command: &str,
) -> Result<crate::ssh::ExecOutput, ModuleError> {
    Ok(ctx.transport.exec(command, &ctx.exec).await?)
}

/// The account as the host has it.
struct Probe {
    passwd: Option<Passwd>,
    shadow: Option<Shadow>,
    /// Every group when `groups` is managed; else the user's own-name group
    /// and `group`, if they exist.
    groups: Vec<Group>,
    /// The home (`home`, else the account's) exists.
    home_exists: bool,
    /// The parent of `home` is a directory.
    home_parent_is_dir: bool,
}

async fn probe(ctx: &ModuleContext<'_>, p: &Params) -> Result<Probe, ModuleError> {
    let name = shell_quote(&p.name);
    let groups = if p.groups.is_some() {
        "getent group".to_string()
    } else {
        let mut keys = vec![name.clone()];
        keys.extend(p.group.as_deref().map(shell_quote));
        format!("getent group -- {}", keys.join(" "))
    };
    let home = match &p.home {
        Some(h) => shell_quote(h),
        None => "\"$h\"".into(),
    };
    let parent = match &p.home {
        Some(h) => format!("[ -d {} ] && echo 'T parent'\n", shell_quote(parent_dir(h))),
        None => String::new(),
    };
    let script = format!(
        "getent passwd -- {name} | sed 's/^/P /'\n\
         getent shadow -- {name} | sed 's/^/S /'\n\
         {groups} | sed 's/^/G /'\n\
         h=$(getent passwd -- {name} | cut -d: -f6)\n\
         [ -n {home} ] && [ -e {home} ] && echo 'T home'\n\
         {parent}true"
    );
    let out = exec(ctx, &script).await?;
    if !out.success() {
        return Err(ModuleError::Transport(format!(
            "user: reading the account failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let passwd = tagged(&text, "P")
        .into_iter()
        .filter_map(Passwd::parse)
        .find(|e| e.name == p.name);
    let shadow = passwd.as_ref().and_then(|_| {
        tagged(&text, "S")
            .into_iter()
            .find(|l| l.split(':').next() == Some(p.name.as_str()))
            .and_then(Shadow::parse)
    });
    let flags = tagged(&text, "T");
    Ok(Probe {
        passwd,
        shadow,
        groups: tagged(&text, "G")
            .into_iter()
            .filter_map(Group::parse)
            .collect(),
        home_exists: flags.contains(&"home"),
        home_parent_is_dir: flags.contains(&"parent"),
    })
}

/// `dirname` of a path, as Python's `os.path.dirname`.
fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// The useradd command line that creates the account; `Err` for a group
/// that does not exist.
fn useradd(p: &Params, groups: &[Group]) -> Result<Vec<String>, String> {
    let mut argv = vec!["useradd".to_string()];
    if let Some(uid) = p.uid {
        argv.extend(["-u".into(), uid.to_string()]);
        if p.non_unique {
            argv.push("-o".into());
        }
    }
    if let Some(seuser) = &p.seuser {
        argv.extend(["-Z".into(), seuser.clone()]);
    }
    if let Some(group) = &p.group {
        if find_group(groups, group).is_none() {
            return Err(format!("Group {group} does not exist"));
        }
        argv.extend(["-g".into(), group.clone()]);
    } else if groups.iter().any(|g| g.name == p.name) {
        // A group of the user's name exists: no user group, or useradd
        // fails trying to create it (USERGROUPS_ENAB).
        argv.push("-N".into());
    }
    if let Some(list) = &p.groups {
        let wanted = group_list(list);
        for g in &wanted {
            if find_group(groups, g).is_none() {
                return Err(format!("Group {g} does not exist"));
            }
        }
        if !wanted.is_empty() {
            argv.extend(["-G".into(), wanted.join(",")]);
        }
    }
    if let Some(comment) = &p.comment {
        argv.extend(["-c".into(), comment.clone()]);
    }
    if let Some(home) = &p.home {
        argv.extend(["-d".into(), home.clone()]);
    }
    if let Some(shell) = &p.shell {
        argv.extend(["-s".into(), shell.clone()]);
    }
    if let Some(expires) = p.expires {
        argv.extend(["-e".into(), expiry_date(expires)]);
    }
    if let Some(days) = p.inactive {
        argv.extend(["-f".into(), days.to_string()]);
    }
    if let Some(password) = &p.password {
        let locked = p.password_lock == Some(true);
        argv.extend([
            "-p".into(),
            if locked {
                format!("!{password}")
            } else {
                password.clone()
            },
        ]);
    }
    if p.create_home {
        argv.push("-m".into());
        if let Some(skeleton) = &p.skeleton {
            argv.extend(["-k".into(), skeleton.clone()]);
        }
        if let Some(umask) = &p.umask {
            argv.extend(["-K".into(), format!("UMASK={umask}")]);
        }
    } else {
        argv.push("-M".into());
    }
    if p.system {
        argv.push("-r".into());
    }
    if let Some(min) = p.uid_min {
        argv.extend(["-K".into(), format!("UID_MIN={min}")]);
    }
    if let Some(max) = p.uid_max {
        argv.extend(["-K".into(), format!("UID_MAX={max}")]);
    }
    argv.push(p.name.clone());
    Ok(argv)
}

/// The usermod command line that brings the account to `p`, or `None`
/// when it already is; `Err` for a group that does not exist.
fn usermod(
    p: &Params,
    info: &Passwd,
    shadow: Option<&Shadow>,
    groups: &[Group],
) -> Result<Option<Vec<String>>, String> {
    let mut argv = vec!["usermod".to_string()];
    if let Some(uid) = p.uid
        && uid != info.uid
    {
        argv.extend(["-u".into(), uid.to_string()]);
        if p.non_unique {
            argv.push("-o".into());
        }
    }
    if let Some(group) = &p.group {
        let Some(g) = find_group(groups, group) else {
            return Err(format!("Group {group} does not exist"));
        };
        if g.gid != info.gid {
            argv.extend(["-g".into(), g.gid.to_string()]);
        }
    }
    if let Some(list) = &p.groups {
        // Every group the user is a listed member of, the primary included.
        let current: Vec<&str> = groups
            .iter()
            .filter(|g| g.members.contains(&p.name))
            .map(|g| g.name.as_str())
            .collect();
        let mut wanted: Vec<String> = Vec::new();
        for g in group_list(list) {
            let Some(found) = find_group(groups, &g) else {
                return Err(format!("Group {g} does not exist"));
            };
            if !wanted.contains(&found.name) {
                wanted.push(found.name.clone());
            }
        }
        let missing = wanted.iter().any(|w| !current.contains(&w.as_str()));
        let extra = current.iter().any(|c| !wanted.iter().any(|w| w == c));
        let needed = if p.append { missing } else { missing || extra };
        if needed {
            if p.append {
                argv.push("-a".into());
            }
            argv.extend(["-G".into(), wanted.join(",")]);
        }
    }
    if let Some(comment) = &p.comment
        && *comment != info.comment
    {
        argv.extend(["-c".into(), comment.clone()]);
    }
    if let Some(home) = &p.home
        && *home != info.home
    {
        argv.extend(["-d".into(), home.clone()]);
        if p.move_home {
            argv.push("-m".into());
        }
    }
    if let Some(shell) = &p.shell
        && *shell != info.shell
    {
        argv.extend(["-s".into(), shell.clone()]);
    }
    // Without a shadow entry the expiry reads as 0, as in Ansible.
    let current_expire = shadow.map_or(0, |s| s.expire);
    if let Some(expires) = p.expires {
        if expires < 0.0 {
            if current_expire >= 0 {
                argv.extend(["-e".into(), String::new()]);
            }
        } else if current_expire < 0 || current_expire != (expires / 86400.0).floor() as i64 {
            argv.extend(["-e".into(), expiry_date(expires)]);
        }
    }
    if let Some(days) = p.inactive
        && shadow.is_none_or(|s| s.inactive != days)
    {
        argv.extend(["-f".into(), days.to_string()]);
    }
    // The hash: passwd's, or shadow's when passwd holds only `x`.
    let current = if info.password.len() <= 1 {
        shadow.map_or(String::new(), |s| s.password.clone())
    } else {
        info.password.clone()
    };
    let locked = current.starts_with('!');
    let mut lock = match p.password_lock {
        Some(true) if !locked => Some("-L"),
        Some(false) if locked => Some("-U"),
        _ => None,
    };
    let mut new_password = None;
    if let Some(password) = &p.password
        && p.update_always
        && current.trim_start_matches('!') != password.trim_start_matches('!')
    {
        // -p excludes -L/-U: the lock goes into the hash.
        lock = None;
        new_password = Some(if p.password_lock == Some(true) {
            format!("!{password}")
        } else {
            password.clone()
        });
    }
    if let Some(flag) = lock {
        argv.push(flag.into());
    }
    if let Some(password) = new_password {
        argv.extend(["-p".into(), password]);
    }
    if argv.len() == 1 {
        return Ok(None);
    }
    argv.push(p.name.clone());
    Ok(Some(argv))
}

/// The chage command line for password ageing, or `None` when it is as
/// asked (or the account has no shadow entry, as Ansible).
fn chage(p: &Params, shadow: Option<&Shadow>) -> Option<Vec<String>> {
    let shadow = shadow?;
    let mut argv = vec!["chage".to_string()];
    for (flag, want, have) in [
        ("-m", p.expire_min, shadow.min),
        ("-M", p.expire_max, shadow.max),
        ("-W", p.expire_warn, shadow.warn),
    ] {
        if let Some(want) = want
            && want != have
        {
            argv.extend([flag.into(), want.to_string()]);
        }
    }
    if argv.len() == 1 {
        return None;
    }
    argv.push(p.name.clone());
    Some(argv)
}

/// Generates the ssh key as Ansible does (an existing key is kept unless
/// `force`) and adds `ssh_fingerprint`, `ssh_key_file` and
/// `ssh_public_key` to the result. `Ok(true)`: a key was (or, in check
/// mode, would be) generated.
async fn ssh_key(
    ctx: &ModuleContext<'_>,
    name: &str,
    key: &SshKey,
    force: bool,
    info: &Passwd,
    home_exists: bool,
    data: &mut Vars,
) -> Result<Result<bool, ModuleOutput>, ModuleError> {
    let fail = |msg: String| {
        let mut failed = ModuleOutput::failed(msg);
        failed.data.insert("name".into(), json!(name));
        failed.data.insert("rc".into(), json!(1));
        failed
    };
    let path = if key.file.starts_with('/') {
        key.file.clone()
    } else {
        if !home_exists && !ctx.check_mode {
            return Ok(Err(fail(format!(
                "User {name} home directory does not exist"
            ))));
        }
        format!("{}/{}", info.home.trim_end_matches('/'), key.file)
    };
    let file = shell_quote(&path);
    let dir = shell_quote(parent_dir(&path));
    let state = exec(
        ctx,
        &format!(
            "[ -d {dir} ] && echo dir; [ -e {file} ] && echo key; \
             {{ [ -e {file}.pub ] || [ -L {file}.pub ]; }} && echo pub; true"
        ),
    )
    .await?;
    let state = String::from_utf8_lossy(&state.stdout).to_string();
    let has = |w: &str| state.lines().any(|l| l == w);
    // A public key already there (even a link) counts as a key: never
    // written through without `force`.
    let exists = has("key") || has("pub");
    let generate = !exists || force;
    let mut generated = false;
    if generate {
        generated = true;
        if !ctx.check_mode {
            let mut script = String::new();
            if !has("dir") {
                script.push_str(&format!(
                    "mkdir -m 0700 -- {dir} && chown -h -- {}:{} {dir} || exit 1\n",
                    info.uid, info.gid
                ));
            }
            script.push_str(&format!("rm -f -- {file} {file}.pub || exit 1\n"));
            let comment = match &key.comment {
                Some(c) => shell_quote(c),
                None => "\"ansible-generated on $(hostname)\"".into(),
            };
            script.push_str(&format!(
                "ssh-keygen -q -t {}{} -C {comment} -f {file} -N {} </dev/null && \
                 chown -h -- {}:{} {file} {file}.pub",
                shell_quote(&key.kind),
                if key.bits > 0 {
                    format!(" -b {}", key.bits)
                } else {
                    String::new()
                },
                shell_quote(key.passphrase.as_deref().unwrap_or("")),
                info.uid,
                info.gid
            ));
            let out = exec(ctx, &script).await?;
            if !out.success() {
                return Ok(Err(accounts::command_failed(name, &out)));
            }
        }
    }
    let out = exec(
        ctx,
        &format!(
            "if [ -e {file} ]; then printf 'F %s\\n' \"$(ssh-keygen -l -f {file} 2>&1)\"; fi; \
             if [ -r {file}.pub ]; then printf 'K '; head -c 16384 {file}.pub; fi; true"
        ),
    )
    .await?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let fingerprint = text
        .lines()
        .find_map(|l| l.strip_prefix("F "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let public = text
        .split_once("\nK ")
        .map(|(_, k)| k)
        .or_else(|| text.strip_prefix("K "))
        .map(|k| Value::String(k.trim().to_string()))
        .unwrap_or(Value::Null);
    data.insert("ssh_fingerprint".into(), json!(fingerprint));
    data.insert("ssh_key_file".into(), json!(path));
    data.insert("ssh_public_key".into(), public);
    Ok(Ok(generated))
}

/// The shell commands that make `home` from the skeleton (a copy of it,
/// links kept; an empty directory without one), mode from login.defs'
/// UMASK, as Ansible's `create_homedir`. Nothing when `home` exists.
fn create_homedir(home: &str, skeleton: Option<&str>) -> String {
    const SCRIPT: &str = r#"{ [ -e @HOME@ ] || { if [ -e @SKEL@ ] && [ @SKEL@ != /dev/null ]; then mkdir -p -- "$(dirname -- @HOME@)" && cp -a -- @SKEL@ @HOME@; else mkdir -p -- @HOME@; fi && u=$(awk '$1 == "UMASK" && $2 ~ /^[0-9]+$/ { u = $2 } END { print u }' /etc/login.defs 2>/dev/null) && { [ -z "$u" ] || chmod "$(printf %o $((0777 & ~0$u)))" @HOME@; }; }; }"#;
    SCRIPT
        .replace("@HOME@", &shell_quote(home))
        .replace("@SKEL@", &shell_quote(skeleton.unwrap_or("/etc/skel")))
}

/// `-e`'s argument: the day `expires` falls on (UTC), or empty (never)
/// for a time before the epoch.
fn expiry_date(expires: f64) -> String {
    if expires < 0.0 {
        return String::new();
    }
    jiff::Timestamp::from_second(expires.floor() as i64)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `groups`, split at commas, blanks trimmed, empties dropped, each once.
fn group_list(list: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in list.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        if !out.iter().any(|o| o == g) {
            out.push(g.to_string());
        }
    }
    out
}

/// Whether `password` looks like a crypt(3) hash (Ansible warns when it
/// does not: the module takes hashes, never plain text).
fn looks_hashed(password: &str) -> bool {
    if ["*", "!", "*************"].contains(&password) || password.is_empty() {
        return true;
    }
    if password.contains([':', '*', '!']) || !password.contains('$') {
        return false;
    }
    let fields: Vec<&str> = password.split('$').collect();
    if fields.len() < 3 {
        return false;
    }
    let hash = fields[fields.len() - 1];
    if !hash
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./=".contains(c))
    {
        return false;
    }
    let expected = match fields[1] {
        "1" => Some(22),
        "5" => Some(43),
        "6" => Some(86),
        "y" => Some(43),
        _ => None,
    };
    expected.is_none_or(|len| hash.len() == len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_pass_and_plain_text_is_flagged() {
        assert!(looks_hashed(
            "$6$rounds=656000$TT4O7jz2M57npccl$33LF6FcUMSW11qrESXL1HX0BS.bsiT6aenFLLiVpsQh6hDtI9pJh5iY7x8J7ePkN4fP8hmElidHXaeD51pbGS."
        ));
        assert!(looks_hashed(
            "$y$jCT$ZiF3ZV39/maUl9Lzt2Hk80$Ih6bI4OXU52OnWWqt3T1BAmVn8eH.4qlcP.8/NOjGN5"
        ));
        assert!(looks_hashed("!"));
        assert!(!looks_hashed("plaintextpassword"));
        assert!(!looks_hashed(
            "$6$rounds=656000$tgK3gYTyRLUmhyv2$lAFrYUQwn7E6VsjPOwQwoSx30lmpiU9r/E0Al7tzKrR9mkodcMEZGe9OXD0H/clOn6qdsUnaL4zefy5fG+++++"
        ));
    }

    #[test]
    fn expiry_is_a_utc_day_or_never() {
        assert_eq!(expiry_date(2529881062.0), "2050-03-03");
        assert_eq!(expiry_date(0.0), "1970-01-01");
        assert_eq!(expiry_date(-1.0), "");
        assert_eq!(parent_dir("/home/a/b"), "/home/a");
        assert_eq!(parent_dir("/home"), "/");
    }
}
