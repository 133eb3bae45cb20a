//! `delegate_to`: a task that runs on another machine on behalf of the
//! current host, as Ansible does it. The name is rendered with the current
//! host's variables; the task keeps those variables (`inventory_hostname`
//! is still the current host), but connects to the delegate with the
//! delegate's own connection settings (`ansible_host`, `ansible_port`,
//! `ansible_user`, key, become). A name the inventory does not know is
//! reached by that name with the `all` group's settings; `localhost` not
//! in the inventory is this machine. The result belongs to the current
//! host (shown `host -> delegate`); with `delegate_facts: true` the facts
//! the task sets go to the delegate.

use serde_json::{Value, json};

use crate::inventory::{HostConnection, Inventory, InventoryError};
use crate::playbook::Vars;
use crate::template::{TaskVars, Templates};

/// Where one host's delegated task goes.
#[derive(Debug, Clone)]
pub struct Delegate {
    /// The rendered `delegate_to` (what results show and facts go to).
    pub name: String,
    pub connection: HostConnection,
}

/// `delegate_to` rendered for the host, or why it cannot be. `looped`:
/// the task has a loop, whose items the name cannot use (herd renders it
/// once per host).
pub fn render_name(
    templates: &Templates,
    expr: &str,
    vars: &TaskVars,
    looped: bool,
) -> Result<String, String> {
    let name = match templates.render_value(&Value::String(expr.to_string()), vars) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) => String::new(),
        Ok(other) => other.to_string(),
        Err(e) if looped => {
            return Err(format!(
                "delegate_to: {e} (herd renders delegate_to once per host, before the loop: a delegate per loop item is not supported)"
            ));
        }
        Err(e) => return Err(format!("delegate_to: {e}")),
    };
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(format!(
            "delegate_to: empty host name produced from `{expr}`"
        ));
    }
    Ok(name)
}

/// How to reach the delegate `name`.
pub fn resolve(inventory: &Inventory, name: &str) -> Result<Delegate, InventoryError> {
    Ok(Delegate {
        name: name.to_string(),
        connection: inventory.delegate_connection(name)?,
    })
}

/// `ansible_delegated_vars`: `{delegate: its variables}`, with the facts
/// it has, the address it is reached at, and (as Ansible has it) the
/// current host's `inventory_hostname`.
pub fn delegated_vars(
    inventory: &Inventory,
    delegate: &Delegate,
    facts: Option<&Vars>,
    current_host: &str,
) -> Value {
    let mut vars = inventory.delegate_scope(&delegate.name).as_map().clone();
    if let Some(facts) = facts {
        vars.insert("ansible_facts".into(), Value::Object(facts.clone()));
        for (k, v) in facts {
            vars.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let conn = &delegate.connection;
    vars.entry("ansible_host")
        .or_insert_with(|| json!(conn.address));
    if let Some(port) = conn.port {
        vars.entry("ansible_port").or_insert_with(|| json!(port));
    }
    if let Some(user) = &conn.user {
        vars.entry("ansible_user").or_insert_with(|| json!(user));
    }
    vars.insert("inventory_hostname".into(), json!(current_host));
    json!({ delegate.name.as_str(): vars })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory() -> Inventory {
        Inventory::from_yaml_str(
            "all:\n  vars:\n    ansible_user: deploy\n  hosts:\n    web1: {ansible_host: 10.0.0.1, ansible_port: 2222, role: web}\n    db1: {ansible_host: 10.0.0.9}\n",
            Path::new("inventory.yml"),
        )
        .unwrap()
    }

    #[test]
    fn a_delegate_is_reached_with_its_own_settings() {
        let inv = inventory();
        let d = resolve(&inv, "web1").unwrap();
        assert_eq!(d.connection.address, "10.0.0.1");
        assert_eq!(d.connection.port, Some(2222));
        assert_eq!(d.connection.user.as_deref(), Some("deploy"));
        // By address, as Ansible matches it.
        let d = resolve(&inv, "10.0.0.9").unwrap();
        assert_eq!(d.connection.name, "db1");
        // Unknown: by name, with the `all` group's settings.
        let d = resolve(&inv, "backup.example.com").unwrap();
        assert_eq!(d.connection.address, "backup.example.com");
        assert_eq!(d.connection.port, None);
        assert_eq!(d.connection.user.as_deref(), Some("deploy"));
        // localhost outside the inventory is this machine.
        let d = resolve(&inv, "localhost").unwrap();
        assert_eq!(
            d.connection.connection,
            crate::inventory::ConnectionKind::Local
        );
    }

    #[test]
    fn delegated_vars_are_the_delegates_with_the_current_hostname() {
        let inv = inventory();
        let d = resolve(&inv, "web1").unwrap();
        let v = delegated_vars(&inv, &d, None, "db1");
        assert_eq!(v["web1"]["role"], "web");
        assert_eq!(v["web1"]["ansible_host"], "10.0.0.1");
        assert_eq!(v["web1"]["inventory_hostname"], "db1");
    }
}
