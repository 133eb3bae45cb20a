//! `package`: the generic package module. Ansible picks the host's package
//! manager module; herd has apt only, so on a host whose manager is apt
//! this is the `apt` module (apt.rs) with `name` and `state`, and on any
//! other host the task fails for that host alone, naming its manager.

use super::apt::{self, Options};
use super::args::Args;
use super::spec::{BoxFuture, Module, Run, alias, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// package, as a task writes it.
pub const MODULE: Module = Module {
    name: "package",
    params: &[alias("name", &["pkg"]), p("state"), p("use")],
    required: &[&["name"]],
    run: Run::Async(boxed),
    ..Module::DEFAULT
};

fn boxed<'a>(ctx: &'a ModuleContext<'a>, args: &'a Vars) -> BoxFuture<'a> {
    Box::pin(run(ctx, args))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    match args.str("use")?.as_deref() {
        None | Some("auto") | Some("apt") => {}
        Some(other) => {
            return Err(args.error(format!(
                "use={other}: herd's package module runs apt only (use: auto or apt)"
            )));
        }
    }
    let names = args.list("name")?.unwrap_or_default();
    let state = args
        .choice(
            "state",
            &["present", "latest", "absent", "installed", "removed"],
            Some("present"),
        )?
        .unwrap_or_default();
    // Ansible's package passes its own synonyms on to the manager's module.
    let state = match state.as_str() {
        "installed" => "present",
        "removed" => "absent",
        s => s,
    };
    let opts = Options {
        names: names
            .iter()
            .flat_map(|n| n.split(','))
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        state: state.to_string(),
        dpkg_options: vec!["force-confdef".into(), "force-confold".into()],
        lock_timeout: 60,
        ..Options::default()
    };
    apt::check_names(&opts.names, &opts.state).map_err(|m| args.error(m))?;
    apt::apply(ctx, &opts, "package").await
}
