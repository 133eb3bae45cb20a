//! The project directory: where herd finds its inventory, settings and state.
//!
//! Like Ansible's ansible.cfg lookup, herd looks for a `herd.toml` in the
//! current directory and each parent. Its directory is the project root;
//! relative paths in it are relative to that root, and state (the results
//! store, learned host keys, backups) lives in `<root>/.herd/`.
//!
//! ```toml
//! inventory = "inventory/hosts.yml"   # or a directory, or an executable script
//! forks = 100
//! strategy = "free"                  # plays without `strategy:` (default: linear)
//!
//! [ssh]
//! config = "ssh_config"              # default: ~/.ssh/config
//! known_hosts = ["known_hosts"]      # checked in addition to ~/.ssh/known_hosts
//! host_key_checking = "strict"       # strict | accept-new | off
//! connect_timeout = 10               # seconds
//! ```
//!
//! Inventory precedence: `-i PATH` > `HERD_INVENTORY` > `herd.toml`'s
//! `inventory`. Without a project file, state lives in `$HERD_STATE_DIR` or
//! `~/.local/state/herd`.
//!
//! Without a herd.toml, an Ansible project's ansible.cfg (found as Ansible
//! finds it, see `ansible_cfg`) stands in for it: its inventory, forks,
//! strategy, timeout and host_key_checking fill the same settings, and its
//! connection defaults (remote_user, private_key_file, become, ssh_args)
//! and roles_path are kept in [`Project::ansible_cfg`]. herd.toml wins
//! when both exist: it is herd's own file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ansible_cfg::{AnsibleCfg, CfgError};

/// The file name herd looks for.
pub const PROJECT_FILE: &str = "herd.toml";

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path}: cannot read project file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: invalid project file: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "no inventory given: pass -i PATH, set HERD_INVENTORY, set `inventory = \"...\"` in a {PROJECT_FILE} in this directory or a parent, or `inventory = ...` under [defaults] in an ansible.cfg"
    )]
    NoInventory,
    #[error(transparent)]
    AnsibleCfg(#[from] CfgError),
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How unknown and changed host keys are treated (OpenSSH's
/// StrictHostKeyChecking, with the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// Refuse unknown and changed keys (the default).
    #[default]
    Strict,
    /// Learn keys of hosts never seen before; refuse changed keys.
    AcceptNew,
    /// Accept any key. Dangerous: says so loudly on every run.
    Off,
}

/// SSH settings from the `[ssh]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    pub config: Option<PathBuf>,
    #[serde(default)]
    pub known_hosts: Vec<PathBuf>,
    pub host_key_checking: Option<HostKeyChecking>,
    pub connect_timeout: Option<u64>,
}

/// The contents of `herd.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub inventory: Option<PathBuf>,
    /// Seconds a dynamic inventory script may run (default 60).
    pub inventory_script_timeout: Option<u64>,
    pub forks: Option<usize>,
    /// The strategy of plays that do not name one (`linear`, `free`).
    pub strategy: Option<crate::strategy::Strategy>,
    #[serde(default)]
    pub ssh: SshSettings,
}

/// A located project: its root (if a project file was found) and settings
/// with every relative path already resolved against the root.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: Option<PathBuf>,
    pub file: ProjectFile,
    pub state_dir: PathBuf,
    /// The ansible.cfg read when there is no herd.toml.
    pub ansible_cfg: Option<AnsibleCfg>,
}

impl Project {
    /// Finds `herd.toml` in `start` or the nearest parent that has one.
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let found = start
            .ancestors()
            .map(|dir| dir.join(PROJECT_FILE))
            .find(|candidate| candidate.is_file());
        if let Some(path) = found {
            return Project::load(&path);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cfg = crate::ansible_cfg::find(start, home.as_deref())
            .map(|path| AnsibleCfg::load(&path, home.as_deref()))
            .transpose()?;
        Ok(Project::from_ansible_cfg(cfg))
    }

    /// A project without herd.toml, set up from an ansible.cfg if any.
    fn from_ansible_cfg(cfg: Option<AnsibleCfg>) -> Project {
        let mut file = ProjectFile::default();
        if let Some(cfg) = &cfg {
            file.forks = cfg.forks;
            file.strategy = cfg.strategy;
            file.ssh.connect_timeout = cfg.timeout;
            // True leaves it to the ssh config (Ansible passes nothing then).
            if cfg.host_key_checking == Some(false) {
                file.ssh.host_key_checking = Some(HostKeyChecking::Off);
            }
        }
        Project {
            root: None,
            file,
            state_dir: default_state_dir(),
            ansible_cfg: cfg,
        }
    }

    /// The connection defaults of the ansible.cfg (empty without one).
    pub fn connection_defaults(&self) -> crate::inventory::ConnectionDefaults {
        let Some(cfg) = &self.ansible_cfg else {
            return Default::default();
        };
        crate::inventory::ConnectionDefaults {
            user: cfg.remote_user.clone(),
            private_key_file: cfg.private_key_file.clone(),
            become_: cfg.become_.unwrap_or(false),
            become_user: cfg.become_user.clone(),
            ssh_options: cfg.ssh_options.clone(),
        }
    }

    /// Which settings file is in use, for `-v`.
    pub fn describe(&self) -> Option<String> {
        if let Some(root) = &self.root {
            return Some(format!(
                "using {} as project file",
                root.join(PROJECT_FILE).display()
            ));
        }
        self.ansible_cfg
            .as_ref()
            .map(|cfg| format!("using {} as config file", cfg.path.display()))
    }

    /// Reads a specific project file.
    pub fn load(path: &Path) -> Result<Project, ProjectError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file: ProjectFile = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| crate::yaml::line_column(&text, span.start))
                .unwrap_or((0, 0));
            ProjectError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let resolve = |p: &mut PathBuf| *p = root.join(&*p);
        if let Some(p) = file.inventory.as_mut() {
            resolve(p)
        }
        if let Some(p) = file.ssh.config.as_mut() {
            resolve(p)
        }
        file.ssh.known_hosts.iter_mut().for_each(resolve);
        Ok(Project {
            state_dir: root.join(".herd"),
            root: Some(root),
            file,
            ansible_cfg: None,
        })
    }

    /// The inventory sources to load: `-i` paths first, then
    /// `HERD_INVENTORY` (clap fills `cli` from it), then the project file.
    pub fn inventory_sources(&self, cli: &[PathBuf]) -> Result<Vec<PathBuf>, ProjectError> {
        if !cli.is_empty() {
            return Ok(cli.to_vec());
        }
        if let Some(p) = &self.file.inventory {
            return Ok(vec![p.clone()]);
        }
        match &self.ansible_cfg {
            Some(cfg) if !cfg.inventory.is_empty() => Ok(cfg.inventory.clone()),
            _ => Err(ProjectError::NoInventory),
        }
    }

    /// The state directory, created (0700) on first use.
    pub fn ensure_state_dir(&self) -> Result<&Path, ProjectError> {
        crate::atomic::create_private_dir(&self.state_dir).map_err(|source| {
            ProjectError::StateDir {
                path: self.state_dir.clone(),
                source,
            }
        })?;
        Ok(&self.state_dir)
    }
}

fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HERD_STATE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/herd")
}

crate::exit::bad_input!(ProjectError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_project_file_in_a_parent_and_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "inventory = \"inv/hosts.yml\"\n[ssh]\nknown_hosts = [\"kh\"]\nhost_key_checking = \"accept-new\"\n",
        )
        .unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let project = Project::discover(&sub).unwrap();
        assert_eq!(project.root.as_deref(), Some(dir.path()));
        assert_eq!(
            project.file.inventory,
            Some(dir.path().join("inv/hosts.yml"))
        );
        assert_eq!(project.file.ssh.known_hosts, vec![dir.path().join("kh")]);
        assert_eq!(
            project.file.ssh.host_key_checking,
            Some(HostKeyChecking::AcceptNew)
        );
        assert_eq!(project.state_dir, dir.path().join(".herd"));
        // -i wins over the project file.
        let cli = vec![PathBuf::from("other.ini")];
        assert_eq!(project.inventory_sources(&cli).unwrap(), cli);
    }

    #[test]
    fn bad_project_file_names_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROJECT_FILE);
        std::fs::write(&path, "forks = 10\ninventroy = \"x\"\n").unwrap();
        let err = Project::load(&path).unwrap_err().to_string();
        assert!(err.contains("herd.toml:2:1"), "{err}");
        assert!(err.contains("inventroy"), "{err}");
    }
}
