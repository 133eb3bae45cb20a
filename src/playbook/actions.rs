//! What a task's module key may name: the modules of the registry
//! (`crate::modules::REGISTRY`) and the task-level actions the engine
//! carries out itself (`include_tasks`, `import_tasks`, `include_role`,
//! `import_role`, `meta`), which are written like modules and declared the
//! same way here.

use crate::modules::spec::{Module, StringArgs, alias, p};

/// `include_tasks: x.yml` / `include_tasks: {file: x.yml, apply: {...}}`.
const INCLUDE_TASKS: Module = Module {
    name: "include_tasks",
    params: &[p("file"), p("_raw_params"), p("apply")],
    string_args: StringArgs::Whole,
    action_plugin: true,
    ..Module::DEFAULT
};

const IMPORT_TASKS: Module = Module {
    name: "import_tasks",
    ..INCLUDE_TASKS
};

/// `include_role: {name: web, tasks_from: x.yml}` (see `role_include.rs`).
const INCLUDE_ROLE: Module = Module {
    name: "include_role",
    params: &[
        alias("name", &["role"]),
        p("tasks_from"),
        p("vars_from"),
        p("defaults_from"),
        p("handlers_from"),
        p("apply"),
        p("public"),
        p("allow_duplicates"),
        p("rolespec_validate"),
    ],
    required: &[&["name"]],
    action_plugin: true,
    ..Module::DEFAULT
};

const IMPORT_ROLE: Module = Module {
    name: "import_role",
    ..INCLUDE_ROLE
};

/// `meta: flush_handlers` (see `keywords::META_ACTIONS`).
const META: Module = Module {
    name: "meta",
    params: &[p("_raw_params")],
    string_args: StringArgs::Whole,
    ..Module::DEFAULT
};

/// Task-level actions, by canonical name.
const TASK_ACTIONS: &[&Module] = &[
    &INCLUDE_TASKS,
    &IMPORT_TASKS,
    &INCLUDE_ROLE,
    &IMPORT_ROLE,
    &META,
];

/// The module or task action a task key names (`copy`,
/// `ansible.builtin.copy`, `systemd_service`...), None when herd has none.
pub fn lookup(key: &str) -> Option<&'static Module> {
    TASK_ACTIONS
        .iter()
        .copied()
        .find(|m| m.answers_to(key))
        .or_else(|| crate::modules::lookup(key))
}

/// The canonical name of the module or action `key` names.
pub fn canonical_module(key: &str) -> Option<&'static str> {
    lookup(key).map(|m| m.name)
}

/// Every module and action name, for messages and suggestions.
pub fn module_names() -> Vec<&'static str> {
    crate::modules::REGISTRY
        .iter()
        .chain(TASK_ACTIONS)
        .map(|m| m.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_prefixes_and_aliases_are_canonicalised() {
        assert_eq!(canonical_module("ansible.builtin.copy"), Some("copy"));
        assert_eq!(canonical_module("ansible.legacy.shell"), Some("shell"));
        assert_eq!(canonical_module("systemd_service"), Some("systemd"));
        assert_eq!(
            canonical_module("ansible.builtin.systemd_service"),
            Some("systemd")
        );
        assert_eq!(canonical_module("ansible.builtin.meta"), Some("meta"));
        assert_eq!(canonical_module("community.general.copy"), None);
    }

    #[test]
    fn names_are_unique_across_modules_actions_and_aliases() {
        let mut seen = std::collections::HashSet::new();
        for m in crate::modules::REGISTRY.iter().chain(TASK_ACTIONS) {
            for name in std::iter::once(m.name).chain(m.aliases.iter().copied()) {
                assert!(seen.insert(name), "{name} declared twice");
            }
        }
    }

    #[test]
    fn parameter_names_and_aliases_are_unique_and_groups_name_parameters() {
        for m in crate::modules::REGISTRY.iter().chain(TASK_ACTIONS) {
            let mut seen = std::collections::HashSet::new();
            for name in m.all_param_names() {
                assert!(seen.insert(name), "{}: {name} declared twice", m.name);
            }
            for name in m.required.iter().flat_map(|g| g.iter()) {
                assert!(m.param(name).is_some(), "{}: required {name}", m.name);
            }
            for (a, b) in m.exclusive {
                assert!(m.param(a).is_some() && m.param(b).is_some(), "{}", m.name);
            }
            for name in m.expression_arg.iter().chain(&m.conditions_arg) {
                assert!(m.param(name).is_some(), "{}: {name}", m.name);
            }
            for name in m.controller_paths {
                assert!(m.param(name).is_some(), "{}: {name}", m.name);
            }
            if let StringArgs::FreeForm(keys) = m.string_args {
                assert!(m.param("_raw_params").is_some(), "{}", m.name);
                for k in keys {
                    assert!(m.param(k).is_some(), "{}: free-form key {k}", m.name);
                }
            }
        }
    }
}
