//! `unarchive`: unpack a tar (gz, bz2, xz, zst) or zip archive into a
//! directory on the host. The archive comes from the controller (uploaded
//! to a temp file first) or, with `remote_src`, is already on the host or
//! at a URL the host downloads. Whether anything changes is decided as
//! Ansible decides it (GNU tar's `--diff` against the destination; each
//! zip member's size and CRC), then owner/group/mode are brought right on
//! every listed file. The host side is one python3 worker (unarchive.py)
//! driving tar/unzip, in one round trip; check mode and `list_files` as
//! Ansible's.

use std::path::Path;

use serde_json::{Value, json};

use super::args::Args;
use super::owner_group_mode::Mode;
use super::python_worker;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::PutOptions;

/// unarchive, as a task writes it.
pub const MODULE: Module = Module {
    name: "unarchive",
    params: &[
        p("src"),
        p("dest"),
        p("remote_src"),
        p("copy"),
        p("creates"),
        p("list_files"),
        p("keep_newer"),
        p("exclude"),
        p("include"),
        p("extra_opts"),
        p("validate_certs"),
        p("io_buffer_size"),
        p("decrypt"),
        p("owner"),
        p("group"),
        p("mode"),
        p("attributes"),
        p("seuser"),
        p("serole"),
        p("setype"),
        p("selevel"),
        p("unsafe_writes"),
    ],
    required: &[&["src"], &["dest"]],
    exclusive: &[("include", "exclude"), ("copy", "remote_src")],
    run: async_run!(run),
    action_plugin: true,
    ..Module::DEFAULT
};

/// The worker run on the host.
const WORKER: &str = include_str!("unarchive.py");

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let src = args.required(&["src"])?;
    let dest = args.required(&["dest"])?;
    // `copy: false` is the old spelling of `remote_src: true`.
    let remote_src = match args.opt_bool("copy")? {
        Some(copy) => !copy,
        None => args.bool("remote_src", false)?,
    };
    if args.has("include") && args.has("exclude") {
        return Ok(ModuleOutput::failed(
            "parameters are mutually exclusive: include, exclude",
        ));
    }
    // decrypt (vault files) has nothing to do: herd's secrets are not in
    // archives. The SELinux and attribute options are accepted, unused.
    args.bool("decrypt", true)?;
    args.int("io_buffer_size")?;
    for ignored in [
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
    ] {
        args.value(&[ignored]);
    }
    let mode = match args.value(&["mode"]) {
        None => Value::Null,
        Some((_, value)) => match mode_value(value) {
            Ok(mode) => mode,
            Err(text) => {
                let mut failed = ModuleOutput::failed("mode must be in octal or symbolic form");
                failed.data.insert(
                    "details".into(),
                    json!(format!("bad symbolic permission for mode: {text}")),
                );
                return Ok(failed);
            }
        },
    };

    // A controller file goes up first, to a temp file the worker removes.
    let mut cleanup = Vec::new();
    let host_src = if remote_src {
        src.clone()
    } else {
        let local = super::locate_source(&ctx.search.files, &src)?;
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "archive".into());
        let remote = format!("/tmp/.herd-unarchive-{}-{name}", crate::remote::nonce());
        upload(ctx, &local, &remote).await?;
        cleanup.push(remote.clone());
        remote
    };

    let params = json!({
        "src": host_src,
        "dest": dest,
        "remote_src": remote_src,
        "creates": args.str("creates")?,
        "list_files": args.bool("list_files", false)?,
        "keep_newer": args.bool("keep_newer", false)?,
        "exclude": args.list("exclude")?.unwrap_or_default(),
        "include": args.list("include")?.unwrap_or_default(),
        "extra_opts": args.list("extra_opts")?.unwrap_or_default(),
        "validate_certs": args.bool("validate_certs", true)?,
        "owner": args.str("owner")?,
        "group": args.str("group")?,
        "mode": mode,
        "check_mode": ctx.check_mode,
        "cleanup": cleanup,
    });
    let mut data = match python_worker::run(ctx, "unarchive", WORKER, &params, &cleanup).await? {
        Ok(data) => data,
        Err(failed) => return Ok(failed),
    };
    let flag =
        |data: &mut Vars, name: &str| data.remove(name).and_then(|v| v.as_bool()).unwrap_or(false);
    let changed = flag(&mut data, "changed");
    let failed = flag(&mut data, "failed");
    let skipped = flag(&mut data, "skipped");
    let msg = data.get("msg").and_then(Value::as_str).map(String::from);
    Ok(ModuleOutput {
        changed,
        failed,
        skipped,
        msg,
        data,
        ..ModuleOutput::default()
    })
}

/// Streams the controller's archive to `remote` (readable by the become
/// user, since the upload itself runs as them).
async fn upload(ctx: &ModuleContext<'_>, local: &Path, remote: &str) -> Result<(), ModuleError> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| ModuleError::Local(format!("reading {}: {e}", local.display())))?;
    let put = PutOptions {
        mode: Some(0o600),
        become_: ctx.exec.become_.clone(),
        ..PutOptions::default()
    };
    ctx.transport.put_reader(file, remote, &put).await?;
    Ok(())
}

/// `mode` for the worker: permission bits, or a symbolic text checked here
/// (`Err` gives the text back for Ansible's "bad symbolic permission").
fn mode_value(value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match Mode::parse(value) {
        Ok(Mode::Octal(m)) => Ok(json!(m)),
        // Ansible takes `a` alone, never beside u, g or o.
        Ok(Mode::Symbolic(s))
            if s.split(',').all(|clause| {
                let who: String = clause.chars().take_while(|c| "ugoa".contains(*c)).collect();
                !(who.contains('a') && who.len() > 1)
            }) =>
        {
            Ok(json!(s))
        }
        _ => Err(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_ansible_reads_them() {
        assert_eq!(mode_value(&json!("0644")), Ok(json!(0o644)));
        assert_eq!(mode_value(&json!("u+rwX,g-rwx")), Ok(json!("u+rwX,g-rwx")));
        for bad in ["u=foo", "foo=r", "ufoo=r", "abc=r", "ao=r", "oa=r"] {
            assert_eq!(mode_value(&json!(bad)), Err(bad.to_string()), "{bad}");
        }
    }
}
