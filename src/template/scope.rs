//! Which variables are data.
//!
//! A variable whose value is itself a template (`url: "http://{{ host }}/"`)
//! is rendered when a template uses it, as Ansible does. That is right for
//! what the admin wrote (playbooks, roles, inventory files, `-e`), and wrong
//! for what a managed host sent back: a command's output holding
//! `{{ lookup('pipe', 'rm -rf ~') }}` would run on the controller. So the
//! variables a task sees carry the names whose values are *data*: never
//! rendered again, at any depth; `{{` in them prints as it is. Ansible calls
//! such values "unsafe".
//!
//! [`TaskVars`] carries that set. `engine::vars::compose` builds it and
//! declares which layers are data (facts, `register`/`set_fact`, inventory
//! script output); every variable added afterwards with
//! [`TaskVars::insert`] (a loop item from data, the result's fields in
//! `changed_when`, `hostvars`, magic variables) is data too. Plain [`Vars`]
//! are what the admin wrote (`-e`, a play's vars): nothing in them is data.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Vars;

/// Where a render's context lists the data variables, for the `template`
/// lookup (which renders the variables its template uses). Not a name a
/// template can write.
pub(crate) const DATA_KEY: &str = "herd data";

/// Variables for rendering, and which of them are data.
pub trait Scope {
    fn vars(&self) -> &Vars;
    /// Whether the variable `name` is data, never to be rendered as a template.
    fn is_data(&self, name: &str) -> bool;
    /// The names of the variables that are data.
    fn data_names(&self) -> Vec<&str>;
}

/// Plain variables are what the admin wrote: none of them is data.
impl Scope for Vars {
    fn vars(&self) -> &Vars {
        self
    }

    fn is_data(&self, _: &str) -> bool {
        false
    }

    fn data_names(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// The variables a task sees on a host, with the names that are data.
///
/// Reading goes through [`TaskVars::get`] and [`TaskVars::as_map`]; there
/// is no mutable access to the map, so a variable is added either as data
/// ([`TaskVars::insert`], the default) or, saying so, as trusted
/// ([`TaskVars::set_trusted`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskVars {
    vars: Vars,
    data: BTreeSet<String>,
}

impl TaskVars {
    /// Trusted variables (what the admin wrote), with no data yet.
    pub fn trusted(vars: Vars) -> TaskVars {
        TaskVars {
            vars,
            data: BTreeSet::new(),
        }
    }

    /// Sets a trusted variable: one the admin wrote, which may be a template.
    pub fn set_trusted(&mut self, name: String, value: Value) {
        self.data.remove(&name);
        self.vars.insert(name, value);
    }

    /// Sets a variable whose value is data.
    pub fn insert(&mut self, name: String, value: Value) {
        self.data.insert(name.clone());
        self.vars.insert(name, value);
    }

    /// Sets each variable of `vars` as data.
    pub fn extend(&mut self, vars: impl IntoIterator<Item = (String, Value)>) {
        for (name, value) in vars {
            self.insert(name, value);
        }
    }

    /// Sets each variable of `vars` as trusted (see [`TaskVars::set_trusted`]).
    pub fn extend_trusted(&mut self, vars: impl IntoIterator<Item = (String, Value)>) {
        for (name, value) in vars {
            self.set_trusted(name, value);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// The variables as a map, for reading.
    pub fn as_map(&self) -> &Vars {
        &self.vars
    }

    /// Gives back the room the map grew into: every host of a task holds
    /// its own variables at once, and a map doubles as it grows.
    pub fn compact(&mut self) {
        self.vars = std::mem::take(&mut self.vars).into_iter().collect();
    }
}

impl Scope for TaskVars {
    fn vars(&self) -> &Vars {
        &self.vars
    }

    fn is_data(&self, name: &str) -> bool {
        self.data.contains(name)
    }

    fn data_names(&self) -> Vec<&str> {
        self.data.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templates;
    use serde_json::json;

    /// A controller-side file the hostile value would create if rendered.
    struct Marker(std::path::PathBuf);

    impl Marker {
        fn new(name: &str) -> Marker {
            let path =
                std::env::temp_dir().join(format!("herd-data-{}-{name}", std::process::id()));
            let _ = std::fs::remove_file(&path);
            Marker(path)
        }

        fn payload(&self) -> String {
            format!("{{{{ lookup('pipe', 'touch {}') }}}}", self.0.display())
        }

        fn assert_untouched(&self) {
            assert!(!self.0.exists(), "the controller ran host data");
        }
    }

    /// `motd` as a host registered it, `banner` as the admin wrote it.
    fn vars(marker: &Marker) -> TaskVars {
        let mut vars = TaskVars::trusted(
            json!({"name": "web1", "banner": "{{ name }} says {{ motd.stdout }}"})
                .as_object()
                .unwrap()
                .clone(),
        );
        vars.insert("motd".into(), json!({"rc": 0, "stdout": marker.payload()}));
        vars
    }

    #[test]
    fn data_is_never_rendered_at_any_depth() {
        let marker = Marker::new("depth");
        let t = Templates::new();
        let v = vars(&marker);
        let p = marker.payload();
        assert_eq!(t.render_file("t", "{{ motd.stdout }}", &v).unwrap(), p);
        assert!(t.eval_bool("motd.rc == 0", &v).unwrap());
        assert_eq!(t.eval("motd", &v).unwrap()["stdout"], json!(p));
        // A trusted template that mentions data renders the data as text.
        assert_eq!(
            t.render_value(&json!("{{ banner }}"), &v).unwrap(),
            json!(format!("web1 says {p}"))
        );
        marker.assert_untouched();
    }

    #[test]
    fn the_template_lookup_does_not_render_data() {
        let marker = Marker::new("lookup");
        let dir = std::env::temp_dir().join(format!("herd-data-lookup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.j2"), "{{ copied }}|{{ banner }}").unwrap();
        let mut v = vars(&marker);
        v.insert("copied".into(), json!(marker.payload()));
        v.insert(
            "ansible_search_path".into(),
            json!([dir.display().to_string()]),
        );
        let out = Templates::new()
            .render_value(&json!("{{ lookup('template', 't.j2') }}"), &v)
            .unwrap();
        let p = marker.payload();
        assert_eq!(out, json!(format!("{p}|web1 says {p}")));
        marker.assert_untouched();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_same_value_as_a_trusted_variable_is_rendered() {
        // The control: what makes the tests above meaningful.
        let marker = Marker::new("control");
        let mut v = vars(&marker);
        v.set_trusted("motd".into(), json!({"stdout": marker.payload()}));
        assert!(!v.is_data("motd"));
        Templates::new()
            .render_file("t", "{{ motd.stdout }}", &v)
            .unwrap();
        assert!(marker.0.exists());
        std::fs::remove_file(&marker.0).unwrap();
    }

    #[test]
    fn uses_data_follows_templated_variables() {
        let marker = Marker::new("uses");
        let t = Templates::new();
        let v = vars(&marker);
        assert!(t.uses_data(&json!("{{ motd.stdout }}"), &v));
        assert!(t.uses_data(&json!(["x", "{{ banner | upper }}"]), &v));
        assert!(!t.uses_data(&json!("{{ name }}"), &v));
        assert!(!t.uses_data(&json!("motd.stdout == 'x'"), &v));
    }
}
