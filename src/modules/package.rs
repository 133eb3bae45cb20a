//! `package`: the generic package module. Ansible hands the task's
//! arguments to the host's package manager module; herd has apt only, so
//! on a host whose manager is apt this is the `apt` module (apt.rs), with
//! all of apt's parameters, and on any other host the task fails for that
//! host alone, naming its manager.

use super::apt::{self, Options, apt_params};
use super::args::Args;
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// package, as a task writes it.
pub const MODULE: Module = Module {
    name: "package",
    params: apt_params!(p("use")),
    required: apt::REQUIRED,
    exclusive: apt::EXCLUSIVE,
    run: async_run!(run),
    ..Module::DEFAULT
};

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
    let opts = Options::read(&args)?;
    apt::apply(ctx, &opts, "package").await
}
