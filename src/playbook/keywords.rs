//! The keywords of Ansible's language herd runs, as tables: play, block
//! and task keywords, loops and meta actions. The loader rejects anything
//! not listed here. Modules declare their own parameters (see
//! `crate::modules::spec`).

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
    "gather_subset",
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
    "delegate_facts",
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
    "delegate_facts",
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
    "with_subelements",
    "with_flattened",
];

/// `meta:` actions herd implements.
pub const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "end_play",
    "end_host",
    "noop",
    "clear_facts",
    "reset_connection",
];
