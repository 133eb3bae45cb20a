//! Key rotation without lockout: the new key is installed beside the old
//! one and must log in on a fresh connection on its own before the
//! inventory is switched to it, and only then is the old key removed. A
//! host where any step fails keeps its old key (the new one is taken out
//! again), and the inventory is not changed for it.
//!
//! The steps, each its own function: [`Rotation::check_switch`] (refuse
//! before touching a host), [`install`], [`Rotation::switch`] (one write
//! for every host that passed), [`remove_old`]; [`undo_install`] when the
//! run stops half-way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::authorized::{self, AuthorizedKey, Change};
use super::{KeyError, Report, generate};
use crate::engine::fanout::{FleetHost, Outcome, block_on, for_each_host};
use crate::inventory::edit::{Edit, EditError, InventoryFile, VarTarget};
use crate::inventory::{Inventory, InventoryError};
use crate::ssh::{Pool, SshOptions, Target};

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "{host} would still connect with {uses} after the switch (set in host_vars/?); change that first"
    )]
    KeyOverridden { host: String, uses: String },
    #[error("the inventory could not be switched to the new key; every host keeps its old key")]
    NotSwitched(#[source] Box<RotateError>),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

crate::exit::code!(RotateError, |err| match err {
    RotateError::KeyOverridden { .. } => crate::exit::BAD_INPUT,
    RotateError::NotSwitched(e) => e.exit_code(),
    RotateError::Edit(e) => e.exit_code(),
    RotateError::Inventory(e) => e.exit_code(),
    RotateError::Key(e) => e.exit_code(),
    RotateError::Runtime(_) => crate::exit::ERROR,
});

/// One rotation: the hosts, how to reach them, and where the new key goes.
pub struct Rotation<'a> {
    pub hosts: &'a [FleetHost],
    /// Per host, the shell word for its authorized_keys file.
    pub files: Arc<HashMap<String, String>>,
    pub options: SshOptions,
    pub forks: usize,
    pub inventory: &'a Inventory,
    /// The inventory file switched to the new key.
    pub file: &'a InventoryFile,
    /// Where the new private key is written (absolute).
    pub key_path: PathBuf,
    /// The new key's comment.
    pub comment: String,
}

/// How a rotation ended.
pub enum Rotated {
    /// Ctrl-C during the install: no host was switched.
    Interrupted,
    /// Each host's result in selection order, and how many hosts the
    /// inventory now points at the new key.
    Done {
        reports: Vec<(String, Outcome<Report>)>,
        switched: usize,
    },
}

/// A host where the new key is installed and logs in on its own.
struct Installed {
    host: FleetHost,
    old: AuthorizedKey,
}

impl Rotation<'_> {
    pub fn run(&self) -> Result<Rotated, RotateError> {
        let names: Vec<String> = self.hosts.iter().map(|h| h.name().to_string()).collect();
        self.check_switch(&names, false)?;

        let pair = generate::ed25519(&self.key_path, &self.comment)?;
        let new_key = Arc::new(AuthorizedKey::new(&pair.public));
        eprintln!(
            "new key {} ({})",
            self.key_path.display(),
            new_key.fingerprint()
        );

        // 1. Install the new key beside the old one; log in with it alone.
        let (ready, mut reports) = install(self, &new_key)?;

        // Ctrl-C: switch nothing, take the new key out where it went in.
        if reports.values().any(|o| matches!(o, Outcome::Interrupted)) {
            undo_install(self, &ready, &new_key)?;
            generate::discard(&pair);
            eprintln!("herd: interrupted: no host was switched to the new key");
            return Ok(Rotated::Interrupted);
        }

        // 2. Switch the inventory for the hosts that passed, in one write.
        let switched: Vec<String> = ready.iter().map(|i| i.host.name().to_string()).collect();
        let written = if switched.is_empty() {
            Ok(())
        } else {
            self.check_switch(&switched, true)
        };
        if let Err(why) = written {
            undo_install(self, &ready, &new_key)?;
            generate::discard(&pair);
            return Err(RotateError::NotSwitched(Box::new(why)));
        }
        if ready.is_empty() {
            generate::discard(&pair);
        }

        // 3. Remove the old key, over a connection made with the new one.
        reports.extend(remove_old(self, ready, &new_key)?);
        let reports = self
            .hosts
            .iter()
            .filter_map(|h| reports.remove_entry(h.name()))
            .collect();
        Ok(Rotated::Done {
            reports,
            switched: switched.len(),
        })
    }

    /// The variable herd reads a host's key from: `herd_key` wins when set.
    fn key_var(&self, host: &str) -> &'static str {
        let vars = self.inventory.host_vars(host).unwrap_or_default();
        if vars.contains_key("herd_key") {
            "herd_key"
        } else {
            "ansible_ssh_private_key_file"
        }
    }

    /// Checks that after switching `hosts` each would connect with the new
    /// key (a `host_vars/` file could override it), and writes the edit if
    /// `write`.
    fn check_switch(&self, hosts: &[String], write: bool) -> Result<(), RotateError> {
        let edits: Vec<Edit> = hosts
            .iter()
            .map(|h| Edit::SetVar {
                target: VarTarget::Host(h.clone()),
                key: self.key_var(h).to_string(),
                value: self.key_path.display().to_string(),
            })
            .collect();
        let text = self.file.apply(&edits)?;
        let inventory = self.file.load(&text)?;
        for host in hosts {
            let uses = inventory.connection(host)?.private_key_file;
            if uses.as_deref() != Some(self.key_path.as_path()) {
                return Err(RotateError::KeyOverridden {
                    host: host.clone(),
                    uses: uses.map_or("its ssh config's key".into(), |p| p.display().to_string()),
                });
            }
        }
        if write {
            self.file.write(&text)?;
        }
        Ok(())
    }

    /// Options for logging in with the new key alone (no agent).
    fn verify_options(&self) -> SshOptions {
        SshOptions {
            agent_socket: None,
            ..self.options.clone()
        }
    }
}

/// `target` logging in with only the key at `key`: no agent, no other
/// identity, no certificate.
fn with_only_key(target: &Target, key: &Path) -> Target {
    Target {
        identity_files: vec![key.to_path_buf()],
        certificate_files: Vec::new(),
        identities_only: true,
        agent_socket: None,
        ..target.clone()
    }
}

/// Step 1: installs the new key on every host and logs in with it alone.
/// Returns the hosts where that worked, and the others' reports.
#[allow(clippy::type_complexity)]
fn install(
    rotation: &Rotation<'_>,
    new_key: &Arc<AuthorizedKey>,
) -> Result<(Vec<Installed>, HashMap<String, Outcome<Report>>), RotateError> {
    let pool = Pool::new(rotation.options.clone());
    let files = rotation.files.clone();
    let verify_options = rotation.verify_options();
    let key_path = &rotation.key_path;
    let installed = block_on(for_each_host(
        pool,
        rotation.hosts,
        rotation.forks,
        |pool, host| {
            let (new_key, file) = (new_key.clone(), files[host.name()].clone());
            let (key_path, verify_options) = (key_path.clone(), verify_options.clone());
            async move {
                let conn = match pool.connect(&host.target).await {
                    Ok(conn) => conn,
                    Err(e) => return Err(Report::unreachable(e.to_string())),
                };
                let old = AuthorizedKey::new(conn.login_key());
                let change = match authorized::add(&conn, &file, &new_key).await {
                    Ok(change) => change,
                    Err(e) => return Err(Report::failed(format!("installing the new key: {e}"))),
                };
                let fresh = Pool::new(verify_options);
                let verified = fresh.connect(&with_only_key(&host.target, &key_path)).await;
                fresh.close_all().await;
                if let Err(e) = verified {
                    let undo = if change == Change::Added {
                        match authorized::remove(&conn, &file, &new_key).await {
                            Ok(_) => "the new key was removed again".to_string(),
                            Err(e) => format!("removing the new key again failed too: {e}"),
                        }
                    } else {
                        "the new key was already listed and is left as it was".to_string()
                    };
                    return Err(Report::failed(format!(
                        "a login with only the new key failed ({e}); the old key is kept and {undo}"
                    )));
                }
                Ok(Installed { host, old })
            }
        },
    ))?;
    let mut reports: HashMap<String, Outcome<Report>> = HashMap::new();
    let mut ready: Vec<Installed> = Vec::new();
    for (name, outcome) in installed {
        match outcome {
            Outcome::Done(Ok(done)) => ready.push(done),
            Outcome::Done(Err(report)) => {
                reports.insert(name, Outcome::Done(report));
            }
            Outcome::Interrupted => {
                reports.insert(name, Outcome::Interrupted);
            }
            Outcome::Panicked(why) => {
                reports.insert(name, Outcome::Panicked(why));
            }
        }
    }
    Ok((ready, reports))
}

/// Step 3: removes each switched host's old key, over a connection made
/// with the new one.
fn remove_old(
    rotation: &Rotation<'_>,
    ready: Vec<Installed>,
    new_key: &Arc<AuthorizedKey>,
) -> Result<Vec<(String, Outcome<Report>)>, RotateError> {
    let pool = Pool::new(rotation.verify_options());
    let hosts: Vec<FleetHost> = ready
        .iter()
        .map(|i| FleetHost {
            target: with_only_key(&i.host.target, &rotation.key_path),
            exec: i.host.exec.clone(),
        })
        .collect();
    let olds: Arc<HashMap<String, AuthorizedKey>> = Arc::new(
        ready
            .into_iter()
            .map(|i| (i.host.name().to_string(), i.old))
            .collect(),
    );
    let files = rotation.files.clone();
    Ok(block_on(for_each_host(
        pool,
        &hosts,
        rotation.forks,
        |pool, host| {
            let (file, old) = (files[host.name()].clone(), olds[host.name()].clone());
            let new_key = new_key.clone();
            async move {
                let switched = format!("now {}", new_key.fingerprint());
                if old.blob == new_key.blob {
                    return Report::ok("rotated", switched);
                }
                let removed = match pool.connect(&host.target).await {
                    Ok(conn) => authorized::remove(&conn, &file, &old).await,
                    Err(e) => Err(KeyError::Remote {
                        host: host.name().to_string(),
                        reason: e.to_string(),
                    }),
                };
                match removed {
                    Ok(_) => Report::ok(
                        "rotated",
                        format!("{switched}; old key {} removed", old.fingerprint()),
                    ),
                    Err(e) => Report::failed(format!(
                        "{switched} and the inventory uses it, but the old key {} could not be removed: {e}",
                        old.fingerprint()
                    )),
                }
            }
        },
    ))?)
}

/// Takes the new key out of the hosts where it was installed.
fn undo_install(
    rotation: &Rotation<'_>,
    ready: &[Installed],
    key: &Arc<AuthorizedKey>,
) -> Result<(), RotateError> {
    let hosts: Vec<FleetHost> = ready.iter().map(|i| i.host.clone()).collect();
    let pool = Pool::new(rotation.options.clone());
    let files = rotation.files.clone();
    let results = block_on(for_each_host(pool, &hosts, rotation.forks, |pool, host| {
        let (key, file) = (key.clone(), files[host.name()].clone());
        async move {
            let conn = pool
                .connect(&host.target)
                .await
                .map_err(|e| e.to_string())?;
            authorized::remove(&conn, &file, &key)
                .await
                .map_err(|e| e.to_string())
        }
    }))?;
    for (host, outcome) in results {
        if !matches!(outcome, Outcome::Done(Ok(_))) {
            eprintln!(
                "herd: WARNING: {host}: the unused new key {} is still in its authorized_keys",
                key.fingerprint()
            );
        }
    }
    Ok(())
}
