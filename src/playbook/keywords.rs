//! The subset of Ansible herd runs, as tables: play and task keywords,
//! modules and each module's parameters. The loader rejects anything not
//! listed here, and the modules implement exactly these parameters, so this
//! file is the one place where the subset grows.

/// Play keywords herd implements.
pub const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "ignore_errors",
    "check_mode",
    "environment",
    "tags",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "connection",
    "strategy",
];

/// Play keywords Ansible has and herd does not (yet): named as "not
/// supported by herd" rather than "unknown".
pub const PLAY_KEYWORDS_UNSUPPORTED: &[&str] = &[
    "become_exe",
    "become_flags",
    "collections",
    "debugger",
    "diff",
    "fact_path",
    "force_handlers",
    "gather_subset",
    "gather_timeout",
    "ignore_unreachable",
    "module_defaults",
    "no_log",
    "order",
    "port",
    "remote_user",
    "run_once",
    "throttle",
    "timeout",
    "vars_prompt",
];

/// Task keywords herd implements (module keys aside).
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "loop",
    "loop_control",
    "register",
    "notify",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "tags",
    "become",
    "become_user",
    "become_method",
    "environment",
    "retries",
    "until",
    "delay",
    "run_once",
    "delegate_to",
    "no_log",
    "check_mode",
    "diff",
    "vars",
    "args",
    "action",
];

/// Only in handlers.
pub const HANDLER_KEYWORDS: &[&str] = &["listen"];

/// Keywords of a `block:` task (besides the inheritable task keywords).
pub const BLOCK_KEYWORDS: &[&str] = &["block", "rescue", "always"];

/// Task keywords a block accepts and passes down to its children.
pub const BLOCK_INHERITED: &[&str] = &[
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "environment",
    "ignore_errors",
    "run_once",
    "delegate_to",
    "no_log",
    "check_mode",
    "diff",
    "vars",
    "notify",
];

/// Task keywords Ansible has and herd does not (yet).
pub const TASK_KEYWORDS_UNSUPPORTED: &[&str] = &[
    "any_errors_fatal",
    "async",
    "poll",
    "become_exe",
    "become_flags",
    "collections",
    "connection",
    "debugger",
    "delegate_facts",
    "ignore_unreachable",
    "local_action",
    "module_defaults",
    "port",
    "remote_user",
    "throttle",
    "timeout",
];

/// `with_<lookup>` loops herd implements; `with_list` is plain `loop`.
pub const LOOP_LOOKUPS: &[&str] = &[
    "with_items",
    "with_list",
    "with_dict",
    "with_sequence",
    "with_first_found",
    "with_together",
];

/// `meta:` actions herd implements.
pub const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "end_play",
    "end_host",
    "noop",
    "clear_facts",
];

/// Modules herd implements, by canonical (short) name. The task-level
/// `include_tasks`/`import_tasks`/`include_role`/`import_role`/`meta` are
/// listed because they are written like modules.
pub const MODULES: &[&str] = &[
    "command",
    "shell",
    "raw",
    "script",
    "copy",
    "template",
    "file",
    "lineinfile",
    "blockinfile",
    "replace",
    "assemble",
    "tempfile",
    "known_hosts",
    "fetch",
    "stat",
    "systemd",
    "service",
    "debug",
    "set_fact",
    "include_vars",
    "assert",
    "fail",
    "wait_for",
    "pause",
    "setup",
    "release",
    "meta",
    "include_tasks",
    "import_tasks",
    "include_role",
    "import_role",
];

/// Other names for modules: `systemd_service` is `systemd` (as in
/// ansible.builtin), `gather_facts` is what Ansible calls `setup` too.
const MODULE_ALIASES: &[(&str, &str)] = &[("systemd_service", "systemd")];

/// The canonical module name for a task key: `copy`,
/// `ansible.builtin.copy` and `ansible.legacy.copy` are all `copy`.
/// None when the key is not a module herd implements.
pub fn canonical_module(key: &str) -> Option<&'static str> {
    let short = key
        .strip_prefix("ansible.builtin.")
        .or_else(|| key.strip_prefix("ansible.legacy."))
        .unwrap_or(key);
    if let Some((_, canonical)) = MODULE_ALIASES.iter().find(|(a, _)| *a == short) {
        return Some(canonical);
    }
    MODULES.iter().copied().find(|m| *m == short)
}

/// Free-form modules: a string argument is a command line (`_raw_params`)
/// and only these `key=value` words are split out of it, as Ansible does.
pub fn free_form_keys(module: &str) -> Option<&'static [&'static str]> {
    match module {
        "command" | "shell" | "script" => {
            Some(&["chdir", "creates", "removes", "executable", "stdin"])
        }
        "raw" => Some(&["executable"]),
        _ => None,
    }
}

/// Parameters a module accepts (canonical names; aliases are in
/// `param_aliases` and rewritten by the loader). `set_fact` takes any key
/// and answers `&["cacheable"]` here.
pub fn module_params(module: &str) -> Option<&'static [&'static str]> {
    Some(match module {
        "command" => &[
            "_raw_params",
            "cmd",
            "argv",
            "executable",
            "chdir",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
            "expand_argument_vars",
        ],
        "shell" => &[
            "_raw_params",
            "cmd",
            "chdir",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
            "executable",
            "expand_argument_vars",
        ],
        "raw" => &["_raw_params", "executable"],
        "script" => &[
            "_raw_params",
            "cmd",
            "chdir",
            "creates",
            "removes",
            "executable",
        ],
        "copy" => &[
            "src",
            "content",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "force",
            "remote_src",
            "directory_mode",
            "validate",
            "follow",
            "local_follow",
            "decrypt",
        ],
        "template" => &[
            "src",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "force",
            "validate",
            "trim_blocks",
            "lstrip_blocks",
            "newline_sequence",
            "follow",
            "output_encoding",
            "block_start_string",
            "block_end_string",
            "variable_start_string",
            "variable_end_string",
            "comment_start_string",
            "comment_end_string",
        ],
        "file" => &[
            "path",
            "state",
            "mode",
            "owner",
            "group",
            "src",
            "recurse",
            "force",
            "follow",
            "access_time",
            "modification_time",
        ],
        "lineinfile" => &[
            "path",
            "line",
            "regexp",
            "search_string",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "backrefs",
            "mode",
            "owner",
            "group",
            "firstmatch",
            "validate",
        ],
        "blockinfile" => &[
            "path",
            "block",
            "marker",
            "marker_begin",
            "marker_end",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "mode",
            "owner",
            "group",
            "validate",
            "append_newline",
            "prepend_newline",
        ],
        "replace" => &[
            "path", "regexp", "replace", "after", "before", "backup", "encoding", "validate",
            "mode", "owner", "group",
        ],
        "assemble" => &[
            "src",
            "dest",
            "delimiter",
            "regexp",
            "ignore_hidden",
            "remote_src",
            "validate",
            "backup",
            "decrypt",
            "mode",
            "owner",
            "group",
        ],
        "tempfile" => &["state", "path", "prefix", "suffix"],
        "known_hosts" => &["name", "key", "path", "hash_host", "state"],
        "fetch" => &[
            "src",
            "dest",
            "flat",
            "fail_on_missing",
            "validate_checksum",
        ],
        "stat" => &[
            "path",
            "get_checksum",
            "checksum_algorithm",
            "get_mime",
            "get_attributes",
            "follow",
        ],
        "systemd" => &[
            "name",
            "state",
            "enabled",
            "daemon_reload",
            "masked",
            "scope",
        ],
        "service" => &["name", "state", "enabled"],
        "debug" => &["msg", "var", "verbosity"],
        "set_fact" => &["cacheable"],
        "include_vars" => crate::modules::INCLUDE_VARS_PARAMS,
        "assert" => &["that", "fail_msg", "msg", "success_msg", "quiet"],
        "fail" => &["msg"],
        "wait_for" => &[
            "port",
            "host",
            "path",
            "state",
            "timeout",
            "delay",
            "sleep",
            "search_regex",
            "connect_timeout",
            "msg",
        ],
        "pause" => &["seconds", "minutes", "prompt"],
        "setup" => &["gather_subset", "filter"],
        "release" => crate::modules::RELEASE_PARAMS,
        "include_tasks" | "import_tasks" => &["file", "_raw_params"],
        "include_role" | "import_role" => &[
            "name",
            "role",
            "tasks_from",
            "vars_from",
            "defaults_from",
            "handlers_from",
            "apply",
            "public",
            "allow_duplicates",
            "rolespec_validate",
        ],
        "meta" => &["_raw_params"],
        _ => return None,
    })
}

/// Alternative parameter names Ansible accepts, as (alias, canonical). The
/// loader rewrites aliases so modules only ever see canonical names.
pub fn param_aliases(module: &str) -> &'static [(&'static str, &'static str)] {
    match module {
        "file" | "stat" => &[("dest", "path"), ("name", "path")],
        "lineinfile" | "replace" => &[("dest", "path"), ("destfile", "path"), ("name", "path")],
        "blockinfile" => &[
            ("dest", "path"),
            ("destfile", "path"),
            ("name", "path"),
            ("content", "block"),
        ],
        "known_hosts" => &[("host", "name")],
        "systemd" => &[
            ("service", "name"),
            ("unit", "name"),
            ("daemon-reload", "daemon_reload"),
        ],
        _ => &[],
    }
}

/// Parameters a module cannot do without: at least one name of each group.
pub fn required_params(module: &str) -> &'static [&'static [&'static str]] {
    match module {
        "command" | "shell" => &[&["_raw_params", "cmd", "argv"]],
        "raw" => &[&["_raw_params"]],
        "script" => &[&["_raw_params", "cmd"]],
        "copy" => &[&["dest"], &["src", "content"]],
        "template" => &[&["src"], &["dest"]],
        "file" | "lineinfile" | "blockinfile" | "stat" => &[&["path"]],
        "replace" => &[&["path"], &["regexp"]],
        "known_hosts" => &[&["name"]],
        "fetch" | "assemble" => &[&["src"], &["dest"]],
        "assert" => &[&["that"]],
        _ => &[],
    }
}

/// Parameters that exclude each other.
pub fn exclusive_params(module: &str) -> &'static [(&'static str, &'static str)] {
    match module {
        "copy" => &[("src", "content")],
        "debug" => &[("msg", "var")],
        "pause" => &[("seconds", "minutes")],
        "command" | "shell" => &[("_raw_params", "argv"), ("cmd", "argv")],
        "lineinfile" => &[("insertafter", "insertbefore")],
        "blockinfile" => &[("insertafter", "insertbefore")],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_has_a_parameter_list() {
        for module in MODULES {
            assert!(module_params(module).is_some(), "{module}");
        }
    }

    #[test]
    fn collection_prefixes_and_aliases_are_canonicalised() {
        assert_eq!(canonical_module("ansible.builtin.copy"), Some("copy"));
        assert_eq!(canonical_module("ansible.legacy.shell"), Some("shell"));
        assert_eq!(canonical_module("systemd_service"), Some("systemd"));
        assert_eq!(
            canonical_module("ansible.builtin.systemd_service"),
            Some("systemd")
        );
        assert_eq!(canonical_module("apt"), None);
        assert_eq!(canonical_module("community.general.copy"), None);
    }

    #[test]
    fn aliases_point_at_real_parameters() {
        for module in MODULES {
            let params = module_params(module).unwrap();
            for (alias, canonical) in param_aliases(module) {
                assert!(
                    params.contains(canonical),
                    "{module}: {alias} -> {canonical}"
                );
                assert!(!params.contains(alias), "{module}: {alias}");
            }
        }
    }
}
