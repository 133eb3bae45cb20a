//! Variable precedence for a task on a host, lowest first, as Ansible's for
//! what herd supports:
//!
//! role defaults (every public role's, then the task's own role's) <
//! inventory (group_vars < host_vars, see `inventory`) < facts < play
//! `vars` < play `vars_files` < role `vars` (every public role's, then the
//! task's own role's) < role params <
//! task/block `vars` < an include loop's item < `include_vars` < `set_fact`
//! and `register` < extra vars (`-e`).
//!
//! `include_vars` sits just below `set_fact`/`register` as in Ansible's list
//! (18 and 19). Ansible puts role and include params above both; herd keeps
//! them below task vars.
//!
//! This is also where herd decides which variables are data (see
//! `template::scope`): the layers that hold what a host sent back — facts,
//! `register` and `set_fact` results, and loop items (rendered already, and
//! often host output) — are data and never rendered as templates; the
//! others are what the admin wrote. A name takes the trust of the layer
//! that wins it.

use serde_json::Value;

use crate::playbook::Vars;
use crate::template::{Scope, TaskVars};

/// The layers, borrowed from wherever they live.
pub struct Layers<'a> {
    /// Defaults and vars of the play's public roles (`roles:`,
    /// `import_role`, `include_role` with `public: true`), merged.
    pub public_defaults: &'a Vars,
    pub public_vars: &'a Vars,
    pub role_defaults: Option<&'a Vars>,
    /// With the names an inventory script set marked as data.
    pub inventory: &'a TaskVars,
    pub facts: &'a Vars,
    pub play: &'a Vars,
    pub vars_files: &'a Vars,
    pub role_vars: Option<&'a Vars>,
    pub role_params: Option<&'a Vars>,
    pub task: &'a Vars,
    /// The item variables of the `include_tasks` loop that loaded the task.
    pub include_items: &'a Vars,
    /// `include_vars` values (the admin's files: trusted).
    pub included: &'a Vars,
    pub host: &'a Vars,
    pub extra: &'a Vars,
}

/// Whether a layer's variable is data, by name.
type IsData<'a> = dyn Fn(&str) -> bool + 'a;

/// Merges the layers (a later layer replaces a key whole, as Ansible's
/// default `hash_behaviour=replace`) and adds `ansible_facts`.
pub fn compose(layers: &Layers<'_>) -> TaskVars {
    let admin = |_: &str| false;
    let data = |_: &str| true;
    let inventory = |name: &str| layers.inventory.is_data(name);
    let ordered: [(Option<&Vars>, &IsData); 14] = [
        (Some(layers.public_defaults), &admin),
        (layers.role_defaults, &admin),
        (Some(layers.inventory.as_map()), &inventory),
        (Some(layers.facts), &data),
        (Some(layers.play), &admin),
        (Some(layers.vars_files), &admin),
        (Some(layers.public_vars), &admin),
        (layers.role_vars, &admin),
        (layers.role_params, &admin),
        (Some(layers.task), &admin),
        (Some(layers.include_items), &data),
        (Some(layers.included), &admin),
        (Some(layers.host), &data),
        (Some(layers.extra), &admin),
    ];
    let mut vars = TaskVars::default();
    for (layer, is_data) in ordered {
        for (k, v) in layer.into_iter().flatten() {
            if is_data(k) {
                vars.insert(k.clone(), v.clone());
            } else {
                vars.set_trusted(k.clone(), v.clone());
            }
        }
    }
    vars.insert(
        "ansible_facts".into(),
        Value::Object(strip_prefix(layers.facts)),
    );
    vars
}

/// `ansible_facts` keys drop the `ansible_` prefix (`ansible_facts.hostname`).
fn strip_prefix(facts: &Vars) -> Vars {
    facts
        .iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                v.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, Value)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Every layer empty but the inventory's.
    fn only_inventory<'a>(inventory: &'a TaskVars, empty: &'a Vars) -> Layers<'a> {
        Layers {
            public_defaults: empty,
            public_vars: empty,
            role_defaults: None,
            inventory,
            facts: empty,
            play: empty,
            vars_files: empty,
            role_vars: None,
            role_params: None,
            task: empty,
            include_items: empty,
            included: empty,
            host: empty,
            extra: empty,
        }
    }

    #[test]
    fn later_layers_win_and_facts_are_exposed_without_prefix() {
        let defaults = map(&[("port", json!(1)), ("only_default", json!(true))]);
        let inventory = TaskVars::trusted(map(&[("port", json!(2))]));
        let facts = map(&[("ansible_hostname", json!("web1"))]);
        let play = map(&[("port", json!(3))]);
        let empty = Vars::new();
        let host = map(&[("port", json!(4))]);
        let extra = map(&[("port", json!(5))]);
        let layers = Layers {
            role_defaults: Some(&defaults),
            facts: &facts,
            play: &play,
            host: &host,
            extra: &extra,
            ..only_inventory(&inventory, &empty)
        };
        let vars = compose(&layers);
        assert_eq!(vars.get("port"), Some(&json!(5)));
        assert_eq!(vars.get("only_default"), Some(&json!(true)));
        assert_eq!(vars.get("ansible_hostname"), Some(&json!("web1")));
        assert_eq!(vars.get("ansible_facts").unwrap()["hostname"], "web1");
        let without_extra = compose(&Layers {
            extra: &empty,
            ..layers
        });
        assert_eq!(without_extra.get("port"), Some(&json!(4)));
    }

    #[test]
    fn what_hosts_sent_back_is_data_unless_a_trusted_layer_wins() {
        let mut inventory = TaskVars::trusted(map(&[("motd", json!("admin")), ("port", json!(2))]));
        inventory.insert("from_script".into(), json!("{{ x }}"));
        let facts = map(&[("ansible_hostname", json!("{{ x }}"))]);
        let items = map(&[("item", json!("{{ x }}"))]);
        let host = map(&[("motd", json!({"stdout": "{{ x }}"})), ("out", json!(1))]);
        let extra = map(&[("out", json!("-e wins"))]);
        let empty = Vars::new();
        let vars = compose(&Layers {
            facts: &facts,
            include_items: &items,
            host: &host,
            extra: &extra,
            ..only_inventory(&inventory, &empty)
        });
        for data in [
            "motd",
            "ansible_hostname",
            "ansible_facts",
            "item",
            "from_script",
        ] {
            assert!(vars.is_data(data), "{data}");
        }
        for admin in ["port", "out"] {
            assert!(!vars.is_data(admin), "{admin}");
        }
    }

    #[test]
    fn include_vars_values_are_trusted_and_below_set_fact() {
        let inventory = TaskVars::default();
        let task = map(&[("os", json!("task"))]);
        let included = map(&[("os", json!("{{ family }}")), ("both", json!("file"))]);
        let host = map(&[("both", json!("set_fact"))]);
        let empty = Vars::new();
        let vars = compose(&Layers {
            task: &task,
            included: &included,
            host: &host,
            ..only_inventory(&inventory, &empty)
        });
        assert_eq!(vars.get("os"), Some(&json!("{{ family }}")));
        assert!(
            !vars.is_data("os"),
            "the admin's vars file may hold templates"
        );
        assert_eq!(vars.get("both"), Some(&json!("set_fact")));
        assert!(vars.is_data("both"));
    }
}
