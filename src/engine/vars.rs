//! Variable precedence for a task on a host, lowest first, as Ansible's for
//! what herd supports:
//!
//! role defaults < inventory (group_vars < host_vars, see `inventory`) <
//! facts < play `vars` < play `vars_files` < role `vars` < role params <
//! task/block `vars` < `set_fact` and `register` < extra vars (`-e`).

use serde_json::Value;

use crate::playbook::Vars;

/// The layers, borrowed from wherever they live.
pub struct Layers<'a> {
    pub role_defaults: Option<&'a Vars>,
    pub inventory: &'a Vars,
    pub facts: &'a Vars,
    pub play: &'a Vars,
    pub vars_files: &'a Vars,
    pub role_vars: Option<&'a Vars>,
    pub role_params: Option<&'a Vars>,
    pub task: &'a Vars,
    pub host: &'a Vars,
    pub extra: &'a Vars,
}

/// Merges the layers (a later layer replaces a key whole, as Ansible's
/// default `hash_behaviour=replace`) and adds `ansible_facts`.
pub fn compose(layers: &Layers<'_>) -> Vars {
    let mut vars = Vars::new();
    let ordered = [
        layers.role_defaults,
        Some(layers.inventory),
        Some(layers.facts),
        Some(layers.play),
        Some(layers.vars_files),
        layers.role_vars,
        layers.role_params,
        Some(layers.task),
        Some(layers.host),
        Some(layers.extra),
    ];
    for layer in ordered.into_iter().flatten() {
        for (k, v) in layer {
            vars.insert(k.clone(), v.clone());
        }
    }
    let facts: Vars = layers
        .facts
        .iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                v.clone(),
            )
        })
        .collect();
    vars.insert("ansible_facts".into(), Value::Object(facts));
    vars
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

    #[test]
    fn later_layers_win_and_facts_are_exposed_without_prefix() {
        let defaults = map(&[("port", json!(1)), ("only_default", json!(true))]);
        let inventory = map(&[("port", json!(2))]);
        let facts = map(&[("ansible_hostname", json!("web1"))]);
        let play = map(&[("port", json!(3))]);
        let empty = Vars::new();
        let host = map(&[("port", json!(4))]);
        let extra = map(&[("port", json!(5))]);
        let layers = Layers {
            role_defaults: Some(&defaults),
            inventory: &inventory,
            facts: &facts,
            play: &play,
            vars_files: &empty,
            role_vars: None,
            role_params: None,
            task: &empty,
            host: &host,
            extra: &extra,
        };
        let vars = compose(&layers);
        assert_eq!(vars["port"], 5);
        assert_eq!(vars["only_default"], true);
        assert_eq!(vars["ansible_hostname"], "web1");
        assert_eq!(vars["ansible_facts"]["hostname"], "web1");
        let without_extra = compose(&Layers {
            extra: &empty,
            ..layers
        });
        assert_eq!(without_extra["port"], 4);
    }
}
