//! One fleet host driven module by module, in-process (no `herd` binary):
//! for module tests that read a result's fields. The test files that use
//! it wrap it with their own shortcuts (which check/diff defaults, which
//! fleet).

use std::path::PathBuf;
use std::sync::Arc;

use herd::modules::file_marks::FileMarks;
use herd::modules::{self, ModuleContext, ModuleError, ModuleOutput, SearchPaths, Vars};
use herd::remote::Transport;
use herd::ssh::{ExecOptions, HostSpec, Pool, SshOptions, Target};
use herd::template::{TaskVars, Templates};
use serde_json::Value;

use crate::fleet::Fleet;

/// `host1` of a fleet, connected, and what a module needs to run there.
pub struct ModuleHost {
    pub fleet: Fleet,
    pub pool: Arc<Pool>,
    pub transport: Transport,
    pub templates: Templates,
    /// The task's variables (trusted, as the inventory's).
    pub vars: Vars,
    pub search: SearchPaths,
    /// The file marks of this host (kept from one module run to the next).
    pub marks: FileMarks,
}

impl ModuleHost {
    /// Connects to `host1` of `fleet`.
    pub async fn connect(fleet: Fleet) -> ModuleHost {
        let options = SshOptions {
            config_file: Some(fleet.ssh_config.clone()),
            ..SshOptions::isolated(&fleet.dir)
        };
        let target = Target::resolve("host1", &HostSpec::default(), &options).unwrap();
        let pool = Pool::new(options);
        let conn = pool.connect(&target).await.unwrap();
        ModuleHost {
            fleet,
            pool,
            transport: Transport::Ssh(conn),
            templates: Templates::new(),
            vars: Vars::new(),
            search: SearchPaths::default(),
            marks: FileMarks::default(),
        }
    }

    /// A path in the host's working directory (the test reads it directly).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.fleet.hosts[0].root.join(rel)
    }

    pub fn p(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// Runs module `name` through `transport` (the host's, or another).
    pub async fn try_run_on(
        &self,
        transport: &Transport,
        exec: ExecOptions,
        name: &str,
        args: Value,
        check: bool,
        diff: bool,
    ) -> Result<ModuleOutput, ModuleError> {
        let ctx = ModuleContext {
            host: "host1",
            transport,
            exec,
            check_mode: check,
            diff,
            templates: &self.templates,
            vars: &TaskVars::trusted(self.vars.clone()),
            search: &self.search,
            marks: &self.marks,
        };
        modules::run(name, &ctx, args.as_object().unwrap()).await
    }

    /// Runs module `name` on the host; an argument error panics.
    pub async fn run_with(
        &self,
        exec: ExecOptions,
        name: &str,
        args: Value,
        check: bool,
        diff: bool,
    ) -> ModuleOutput {
        self.try_run_on(&self.transport, exec, name, args, check, diff)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub async fn stop(self) {
        self.pool.close_all().await;
    }
}
