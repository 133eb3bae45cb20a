//! Ansible's implicit localhost.
//!
//! A play with `hosts: localhost` runs on the controller even when the
//! inventory has no such host: Ansible then adds an implicit `localhost`
//! with `ansible_connection=local`, in no group (so `all` does not match
//! it), seeing the `all` group's vars. herd does the same, and says so
//! once per run.

use std::sync::Once;

/// The names Ansible treats as this machine.
pub(crate) fn is_localhost(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

pub(crate) fn warn_once(name: &str) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "`{name}` is not in the inventory: using the implicit localhost (this machine, no ssh), as Ansible does"
        )
    });
}
