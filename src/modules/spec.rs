//! A module's declaration: its name, the parameters it reads (with their
//! aliases), which are required or exclusive, how a string argument is
//! read, and its run function. Each module declares itself once, in its
//! own file; the playbook loader validates tasks against the declaration
//! and [`super::args::Args`] reads arguments through it, so the two can
//! never disagree.

use std::future::Future;
use std::pin::Pin;

use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// What a module run gives back.
pub type Outcome = Result<ModuleOutput, ModuleError>;

/// A module's run, boxed so the registry can hold every module's.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// How a module runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// Talks to the host.
    Async(for<'a> fn(&'a ModuleContext<'a>, &'a Vars) -> BoxFuture<'a>),
    /// Works on the controller only (debug, set_fact, assert...).
    Sync(fn(&ModuleContext<'_>, &Vars) -> Outcome),
    /// Carried out by the engine itself (include_tasks, meta, ...): written
    /// like a module, never dispatched to one.
    Engine,
}

/// `Run::Async` for a module's `async fn run(ctx, vars)` (or
/// `run(ctx, extra.., vars)` with `async_run!(run, extra..)`): boxes its
/// future so the registry can hold it. (A closure cannot do this in a
/// `const`: the future's `Send` is checked inside its defining scope.)
macro_rules! async_run {
    ($run:path $(, $extra:expr)*) => {
        $crate::modules::spec::Run::Async({
            fn boxed<'a>(
                ctx: &'a $crate::modules::ModuleContext<'a>,
                args: &'a $crate::modules::Vars,
            ) -> $crate::modules::spec::BoxFuture<'a> {
                Box::pin($run(ctx, $($extra,)* args))
            }
            boxed
        })
    };
}
pub(crate) use async_run;

/// One parameter and its other names.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
}

/// A parameter without aliases.
pub const fn p(name: &'static str) -> Param {
    Param { name, aliases: &[] }
}

/// A parameter with other names (`path` is also `dest` and `name`).
pub const fn alias(name: &'static str, aliases: &'static [&'static str]) -> Param {
    Param { name, aliases }
}

/// How a string written as the module's argument (`copy: src=a dest=b`,
/// `shell: ls | wc -l`) is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StringArgs {
    /// `key=value` words, nothing else.
    KeyValue,
    /// A command line (`_raw_params`) with only these `key=value` words
    /// split out of it, as Ansible does.
    FreeForm(&'static [&'static str]),
    /// The whole text is `_raw_params` (a path, a meta action).
    Whole,
}

/// A module, declared once.
pub struct Module {
    /// Canonical short name (`copy`); `ansible.builtin.` and
    /// `ansible.legacy.` prefixes are accepted too.
    pub name: &'static str,
    /// Other names of the module (`systemd_service`).
    pub aliases: &'static [&'static str],
    pub params: &'static [Param],
    /// At least one parameter of each group must be given.
    pub required: &'static [&'static [&'static str]],
    /// Pairs of parameters that exclude each other.
    pub exclusive: &'static [(&'static str, &'static str)],
    pub string_args: StringArgs,
    /// Takes any key besides `params` (set_fact's variable names).
    pub any_names: bool,
    /// The argument the module evaluates as an expression after the engine
    /// rendered it (`debug`'s `var`): never rendered from host data (see
    /// `template::scope`).
    pub expression_arg: Option<&'static str>,
    /// The argument read as conditions, which reaches the module unrendered
    /// (`assert`'s `that`) and is rendered the way `when:` is.
    pub conditions_arg: Option<&'static str>,
    /// Arguments naming files on the controller (`include_vars`' `file`):
    /// built from host data, they must stay inside the task's search dirs.
    pub controller_paths: &'static [&'static str],
    /// Ansible runs it through an action plugin that words a missing
    /// parameter itself ("dest is required"), not AnsibleModule's
    /// "missing required arguments: dest".
    pub action_plugin: bool,
    pub run: Run,
}

impl Module {
    /// The fields most modules leave as they are; `..Module::DEFAULT`.
    pub const DEFAULT: Module = Module {
        name: "",
        aliases: &[],
        params: &[],
        required: &[],
        exclusive: &[],
        string_args: StringArgs::KeyValue,
        any_names: false,
        expression_arg: None,
        conditions_arg: None,
        controller_paths: &[],
        action_plugin: false,
        run: Run::Engine,
    };

    /// The canonical name of parameter `name` (itself or an alias).
    pub fn canonical_param(&self, name: &str) -> Option<&'static str> {
        self.params
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name))
            .map(|p| p.name)
    }

    /// The declared parameter `name` (canonical name only).
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Every name a task may write: parameters and their aliases.
    pub fn all_param_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.params
            .iter()
            .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
    }

    /// Whether `name` is this module's name or alias, with or without a
    /// collection prefix.
    pub fn answers_to(&self, name: &str) -> bool {
        let short = short_name(name);
        self.name == short || self.aliases.contains(&short)
    }
}

/// `copy` for `copy`, `ansible.builtin.copy` and `ansible.legacy.copy`.
pub fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}
