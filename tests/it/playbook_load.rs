//! Loading playbooks: a realistic site (roles, imports, includes, blocks,
//! loops) and, above all, the errors for everything outside herd's subset,
//! each at the file:line:col of the offending key.

use std::path::{Path, PathBuf};

use herd::playbook::{
    Action, Inherited, Loop, Playbook, SectionKind, Serial, Task, load_playbook, load_tasks_file,
};
use serde_json::json;

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/playbooks/site")
}

fn load_site() -> Playbook {
    load_playbook(&site().join("site.yml")).unwrap_or_else(|e| panic!("{e}"))
}

fn module(task: &Task) -> (&str, &serde_json::Map<String, serde_json::Value>) {
    match &task.action {
        Action::Module { name, args } => (name, args),
        other => panic!("not a module: {other:?}"),
    }
}

fn named<'a>(tasks: &'a [Task], name: &str) -> &'a Task {
    tasks
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no task {name}"))
}

/// Writes `files` into a fresh directory and loads its `site.yml`; the
/// error text with the directory stripped, so tests read `site.yml:3:7`.
fn load_error(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let err = match load_playbook(&dir.path().join("site.yml")) {
        Ok(_) => panic!("loaded without error"),
        Err(e) => e,
    };
    err.to_string()
        .replace(&format!("{}/", dir.path().display()), "")
}

fn site_error(text: &str) -> String {
    load_error(&[("site.yml", text)])
}

#[test]
fn imported_playbook_comes_first_with_import_tags() {
    let book = load_site();
    assert_eq!(book.plays.len(), 2);
    let common = &book.plays[0];
    assert_eq!(common.hosts, "all");
    assert_eq!(common.name, "all");
    assert!(!common.gather_facts);
    assert_eq!(common.tags, ["common"]);
    assert!(
        common.sections[0]
            .tasks
            .iter()
            .all(|t| t.tags.contains(&"common".to_string()))
    );
    assert!(common.location.file.ends_with("common.yml"));
}

#[test]
fn play_keywords() {
    let play = &load_site().plays[1];
    assert_eq!(play.name, "Web servers");
    assert_eq!(play.hosts, "web,lb");
    assert_eq!(play.become_, Some(true));
    assert_eq!(play.serial, [Serial::Count(1), Serial::Percent(30.0)]);
    assert_eq!(play.max_fail_percentage, Some(25.0));
    assert_eq!(play.vars["http_port"], 8080);
    assert_eq!(play.vars_files, ["vars/web.yml"]);
    assert!(play.gather_facts);
    let kinds: Vec<_> = play.sections.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SectionKind::PreTasks,
            SectionKind::Roles,
            SectionKind::Tasks,
            SectionKind::PostTasks
        ]
    );
}

#[test]
fn roles_run_dependencies_first_with_their_files() {
    let play = &load_site().plays[1];
    let names: Vec<_> = play.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["base", "webserver"]);
    let web = &play.roles[1];
    assert_eq!(web.defaults["worker_processes"], 2);
    assert_eq!(web.vars["nginx_user"], "www-data");
    assert_eq!(web.params["server_name"], "www.example.com");
    assert_eq!(play.roles[0].defaults["base_motd"], "welcome");

    let tasks = &play.sections[1].tasks;
    assert_eq!(tasks[0].display_name(), "base : Base packages marker");
    assert_eq!(tasks[0].role.as_ref().unwrap().name, "base");
    // The role entry's tags reach its dependency's tasks too.
    assert!(tasks.iter().all(|t| t.tags.contains(&"web".to_string())));

    let template = named(tasks, "Install nginx config");
    let (name, args) = module(template);
    assert_eq!(name, "template");
    assert_eq!(args["src"], "nginx.conf.j2");
    assert_eq!(args["validate"], "nginx -t -c %s");
    assert_eq!(template.notify, ["reload nginx"]);
    let paths = template.search_paths(&play.dir, "templates");
    assert!(paths[0].ends_with("roles/webserver/templates"), "{paths:?}");
    assert_eq!(module(named(tasks, "nginx running")).0, "systemd");
}

#[test]
fn handlers_of_roles_come_before_the_plays() {
    let play = &load_site().plays[1];
    let names: Vec<_> = play
        .handlers
        .iter()
        .map(|h| h.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["reload nginx", "restart app"]);
    assert_eq!(play.handlers[0].listen, ["web config changed"]);
    let (name, args) = module(&play.handlers[1]);
    assert_eq!(name, "service");
    assert_eq!(args["state"], "restarted");
}

#[test]
fn import_tasks_is_expanded_with_the_imports_when_and_tags() {
    let play = &load_site().plays[1];
    let tasks = &play.sections[2].tasks;
    let release = named(tasks, "Release directory");
    assert_eq!(release.when, ["deploy | bool"]);
    assert_eq!(release.tags, ["deploy"]);
    assert!(release.location.file.ends_with("tasks/deploy.yml"));
    assert_eq!(release.location.line, 1);
    let configure = named(tasks, "Configure the app");
    assert_eq!(module(configure).1["mode"], "0644");
}

#[test]
fn include_tasks_stays_dynamic() {
    let play = &load_site().plays[1];
    let include = named(&play.sections[2].tasks, "Per-site configuration");
    match &include.action {
        Action::IncludeTasks { file, .. } => assert_eq!(file, "tasks/site.yml"),
        other => panic!("{other:?}"),
    }
    assert_eq!(include.loop_, Some(Loop::Items(json!("{{ sites }}"))));
    assert_eq!(include.loop_control.loop_var.as_deref(), Some("site"));

    // What the engine does when the include runs.
    let path = herd::playbook::find_tasks_file("tasks/site.yml", &include.dir, None);
    let tasks = load_tasks_file(&path, &play.dir, None, &Inherited::for_include(include))
        .unwrap()
        .tasks;
    assert_eq!(module(&tasks[0]).0, "copy");
    assert_eq!(tasks[0].become_, None);
}

#[test]
fn blocks_pass_when_and_become_to_their_children() {
    let play = &load_site().plays[1];
    let block = named(&play.sections[2].tasks, "Try, recover, report");
    let Action::Block {
        block: body,
        rescue,
        always,
    } = &block.action
    else {
        panic!("not a block");
    };
    let risky = &body[0];
    assert_eq!(
        risky.when,
        ["http_port is defined", "inventory_hostname in groups.web"]
    );
    assert_eq!(risky.become_user.as_deref(), Some("app"));
    assert_eq!(risky.register.as_deref(), Some("migrate"));
    let (name, args) = module(risky);
    assert_eq!(name, "command");
    assert_eq!(args["_raw_params"], "/usr/local/bin/migrate --check");
    assert_eq!(args["chdir"], "/srv/app");
    assert_eq!(args["creates"], "/srv/app/.migrated");
    assert_eq!(
        module(&rescue[0]).1["msg"],
        "migration failed on {{ inventory_hostname }}"
    );
    assert_eq!(module(&always[0]).1["var"], "migrate");
    assert_eq!(always[0].when.len(), 2);
}

#[test]
fn post_tasks_meta_and_delegation() {
    let play = &load_site().plays[1];
    let post = &play.sections[3].tasks;
    assert!(matches!(&post[0].action, Action::Meta(m) if m == "flush_handlers"));
    assert_eq!(post[1].delegate_to.as_deref(), Some("localhost"));
    let pre = &play.sections[0].tasks[0];
    assert_eq!(module(pre).1["_raw_params"], "uptime");
    assert_eq!(pre.changed_when, Some(vec!["False".to_string()]));
}

#[test]
fn every_loop_kind() {
    let tasks = &load_site().plays[0].sections[0].tasks;
    assert_eq!(
        named(tasks, "Packages present").loop_,
        Some(Loop::WithItems(json!([["curl", "vim"], "htop"])))
    );
    assert_eq!(
        named(tasks, "Users").loop_,
        Some(Loop::WithDict(json!("{{ users }}")))
    );
    assert_eq!(
        named(tasks, "Numbered dirs").loop_,
        Some(Loop::WithSequence(json!("start=1 end=3")))
    );
    let dirs = module(named(tasks, "Numbered dirs")).1;
    assert_eq!(dirs["path"], "/srv/d{{ item }}");
    assert_eq!(dirs["mode"], "0755");
    assert_eq!(
        named(tasks, "Pairs").loop_,
        Some(Loop::WithTogether(json!([["a", "b"], [1, 2]])))
    );
    let plain = named(tasks, "Plain loop");
    assert!(matches!(plain.loop_, Some(Loop::Items(_))));
    assert_eq!(plain.loop_control.index_var.as_deref(), Some("idx"));
    // `dest` is lineinfile's alias of `path`: modules see `path`.
    assert_eq!(module(plain).1["path"], "/etc/hosts");
    assert_eq!(plain.tags, ["common", "hosts", "net"]);
    let until = named(tasks, "Wait until ready");
    assert_eq!(until.until, Some(vec!["ready.rc == 0".to_string()]));
    assert_eq!(
        (until.retries.as_deref(), until.delay),
        (Some("5"), Some(5))
    );
}

#[test]
fn task_listing_walks_blocks_in_order() {
    let book = load_site();
    let names: Vec<String> = book
        .tasks()
        .iter()
        .filter(|e| e.play.name == "Web servers")
        .map(|e| format!("{}{}", "  ".repeat(e.depth), e.task.display_name()))
        .collect();
    assert_eq!(
        names,
        [
            "Check the host answers",
            "base : Base packages marker",
            "webserver : Install nginx config",
            "webserver : nginx running",
            "Release directory",
            "Configure the app",
            "Per-site configuration",
            "Try, recover, report",
            "  Risky step",
            "  debug",
            "  debug",
            "meta: flush_handlers",
            "Smoke test",
        ]
    );
    assert!(book.tags().contains(&"deploy".to_string()));
}

// ---- errors: each names the file, line and column of the key ----

#[test]
fn unknown_module_suggests_the_close_one() {
    let err =
        site_error("- hosts: all\n  tasks:\n    - name: x\n      copyy:\n        dest: /tmp/x\n");
    assert_eq!(
        err,
        "site.yml:4:7: unknown module `copyy` (did you mean `copy`?)"
    );
}

#[test]
fn unsupported_module_lists_the_supported_ones() {
    let err = site_error("- hosts: all\n  tasks:\n    - dnf: name=nginx\n");
    assert!(
        err.starts_with(
            "site.yml:3:7: module `dnf` is not supported by herd; herd's modules: command,"
        ),
        "{err}"
    );
}

#[test]
fn unsupported_task_keyword() {
    let err = site_error(
        "- hosts: all\n  tasks:\n    - command: sleep 100\n      async: 45\n      poll: 0\n",
    );
    assert_eq!(
        err,
        "site.yml:4:7: task keyword `async` is not supported by herd"
    );
}

#[test]
fn misspelt_task_keyword() {
    let err = site_error("- hosts: all\n  tasks:\n    - command: ls\n      whem: x\n");
    assert_eq!(
        err,
        "site.yml:4:7: unknown task keyword `whem` (did you mean `when`?)"
    );
}

#[test]
fn strategies_herd_does_not_run_are_refused_with_the_ones_it_does() {
    let err = site_error("- hosts: all\n  strategy: debug\n  tasks: []\n");
    assert_eq!(
        err,
        "site.yml:2:3: play keyword `strategy: debug`: herd runs `linear` (the default), `free` and `host_pinned`"
    );
}

#[test]
fn unsupported_and_unknown_play_keywords() {
    let err = site_error("- hosts: all\n  remote_user: root\n");
    assert_eq!(
        err,
        "site.yml:2:3: play keyword `remote_user` is not supported by herd"
    );
    let err = site_error("- hosts: all\n  gather_fact: no\n");
    assert_eq!(
        err,
        "site.yml:2:3: unknown play keyword `gather_fact` (did you mean `gather_facts`?)"
    );
    let err = site_error("- hosts: all\n  copy: src=a dest=b\n");
    assert!(err.contains("tasks go under `tasks:`"), "{err}");
    let err = site_error("- name: no hosts\n  tasks: []\n");
    assert!(
        err.starts_with("site.yml:1:3: a play needs `hosts:`"),
        "{err}"
    );
}

#[test]
fn two_modules_in_one_task() {
    let err = site_error("- hosts: all\n  tasks:\n    - copy: src=a dest=b\n      file: path=/x\n");
    assert_eq!(
        err,
        "site.yml:4:7: a task calls one module, this one has `copy` and `file`; split it into two tasks"
    );
}

#[test]
fn task_without_module() {
    let err = site_error("- hosts: all\n  tasks:\n    - name: nothing to do\n      when: x\n");
    assert!(err.starts_with("site.yml:3:7: task has no module"), "{err}");
}

#[test]
fn rescue_without_block() {
    let err = site_error(
        "- hosts: all\n  tasks:\n    - name: x\n      rescue:\n        - debug: msg=x\n",
    );
    assert_eq!(err, "site.yml:4:7: `rescue` without `block`");
}

#[test]
fn unsupported_loop_lookup() {
    let err = site_error(
        "- hosts: all\n  tasks:\n    - copy: src={{ item }} dest=/etc/\n      with_fileglob: \"*.conf\"\n",
    );
    assert_eq!(
        err,
        "site.yml:4:7: `with_fileglob` is not supported; use loop with a list"
    );
}

#[test]
fn unknown_module_parameter() {
    let err = site_error("- hosts: all\n  tasks:\n    - copy:\n        src: a\n        dset: /b\n");
    assert_eq!(
        err,
        "site.yml:5:9: copy: unknown parameter `dset` (did you mean `dest`?)"
    );
    let err = site_error("- hosts: all\n  tasks:\n    - file: path=/x stat=directory\n");
    assert_eq!(
        err,
        "site.yml:3:13: file: unknown parameter `stat` (did you mean `state`?)"
    );
}

#[test]
fn missing_and_conflicting_parameters() {
    let err = site_error("- hosts: all\n  tasks:\n    - copy:\n        src: a\n");
    assert_eq!(
        err,
        "site.yml:3:7: copy: missing required parameter `dest` (dest is required)"
    );
    let err = site_error("- hosts: all\n  tasks:\n    - debug:\n        msg: a\n        var: b\n");
    assert_eq!(
        err,
        "site.yml:5:9: debug: `msg` and `var` cannot be used together (parameters are mutually exclusive: msg|var)"
    );
    let err = site_error("- hosts: all\n  tasks:\n    - pause:\n        prompt: Continue?\n");
    assert!(err.contains("herd runs non-interactively"), "{err}");
}

#[test]
fn missing_role_says_where_it_looked() {
    let err = site_error("- hosts: all\n  roles:\n    - nginx\n");
    assert!(
        err.starts_with("site.yml:3:7: role `nginx` not found; looked in "),
        "{err}"
    );
    assert!(err.contains("roles/nginx"), "{err}");
}

#[test]
fn missing_import_file() {
    let err = site_error("- hosts: all\n  tasks:\n    - import_tasks: nope.yml\n");
    assert!(err.starts_with("site.yml:3:7: file `"), "{err}");
    assert!(err.ends_with("nope.yml` not found"), "{err}");
    let err = site_error("- import_playbook: other.yml\n");
    assert!(err.starts_with("site.yml:1:3: file `"), "{err}");
}

#[test]
fn errors_in_imported_files_point_into_them() {
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n",
        ),
        ("t.yml", "- debug: msg=ok\n- shel: ls\n"),
    ]);
    assert_eq!(
        err,
        "t.yml:2:3: unknown module `shel` (did you mean `shell`?)"
    );
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_tasks: t.yml\n",
        ),
        ("t.yml", "- debug: msg=ok\n  become_method: doas\n"),
    ]);
    assert_eq!(
        err,
        "t.yml:2:18: become_method `doas` is not supported by herd; only sudo and su are"
    );
}

#[test]
fn errors_in_roles_point_into_the_role() {
    let err = load_error(&[
        ("site.yml", "- hosts: all\n  roles: [web]\n"),
        (
            "roles/web/tasks/main.yml",
            "- name: x\n  service:\n    nme: nginx\n",
        ),
    ]);
    assert_eq!(
        err,
        "roles/web/tasks/main.yml:3:5: service: unknown parameter `nme` (did you mean `name`?)"
    );
}

#[test]
fn import_cycles_are_reported() {
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
        ),
        ("a.yml", "- import_tasks: b.yml\n"),
        ("b.yml", "- import_tasks: a.yml\n"),
    ]);
    assert!(err.starts_with("b.yml:1:3: "), "{err}");
    assert!(err.contains("imports itself"), "{err}");
}

#[test]
fn yaml_syntax_error_has_a_location() {
    let err = site_error("- hosts: all\n  tasks:\n    - debug: {msg: x\n");
    assert!(err.starts_with("site.yml:"), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
}

#[test]
fn a_playbook_is_a_list_of_plays() {
    let err = site_error("hosts: all\ntasks: []\n");
    assert!(
        err.starts_with("site.yml:1:1: a playbook is a list of plays"),
        "{err}"
    );
    let err = site_error("");
    assert!(err.contains("found nothing"), "{err}");
}

#[test]
fn delegation_needs_a_host_name() {
    let err = site_error("- hosts: all\n  tasks:\n    - command: ls\n      delegate_to: \"\"\n");
    assert_eq!(err, "site.yml:4:20: delegate_to needs a host name");
}

#[test]
fn unsupported_meta() {
    let err = site_error("- hosts: all\n  tasks:\n    - meta: refresh_inventory\n");
    assert!(
        err.starts_with("site.yml:3:13: meta: `refresh_inventory` is not supported"),
        "{err}"
    );
}

#[test]
fn when_accepts_bools_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(
        &path,
        "- hosts: all\n  tasks:\n    - debug: msg=a\n      when: false\n    - debug: msg=b\n      when: [a, b]\n      tags: x, y\n",
    )
    .unwrap();
    let book = load_playbook(&path).unwrap();
    let tasks = &book.plays[0].sections[0].tasks;
    assert_eq!(tasks[0].when, ["False"]);
    assert_eq!(tasks[1].when, ["a", "b"]);
    assert_eq!(tasks[1].tags, ["x", "y"]);
}

#[test]
fn errors_are_bad_input() {
    let err = load_playbook(Path::new("/nonexistent/site.yml")).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/site.yml: cannot read"),
        "{err}"
    );
}

/// Loads Ansible's own integration targets (GPL test data, read in place)
/// and prints which fail and why: the list of features to add next.
/// `cargo test --test it playbook_load:: conformance -- --ignored --nocapture`
#[test]
#[ignore]
fn conformance_targets() {
    let root = Path::new("/work/shared/conformance/ansible/targets");
    let mut entries: Vec<_> = std::fs::read_dir(root).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let main = entry.path().join("tasks/main.yml");
        if !main.exists() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let suite = root.parent().unwrap();
        match load_tasks_file(&main, suite, None, &Inherited::default()) {
            Ok(loaded) => println!("ok    {name} ({} tasks)", loaded.tasks.len()),
            Err(e) => println!(
                "FAIL  {name}: {}",
                e.to_string().replace(&format!("{}/", root.display()), "")
            ),
        }
    }
}

/// Like `conformance_targets`, but every top-level task of every tasks
/// file on its own, so one unsupported feature does not hide the rest.
/// Imports of other files fail as "not found" here and are skipped.
#[test]
#[ignore]
fn conformance_tasks_one_by_one() {
    let root = Path::new("/work/shared/conformance/ansible/targets");
    let scratch = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = glob_tasks(root);
    files.sort();
    let mut failures = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut total = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("- "))
            .collect();
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            // Blank lines keep the line numbers of the original file.
            let mut chunk = "\n".repeat(start);
            chunk.push_str(&lines[start..end].join("\n"));
            chunk.push('\n');
            let path = scratch
                .path()
                .join(format!("{}.yml", rel.replace('/', "__")));
            std::fs::write(&path, chunk).unwrap();
            total += 1;
            if let Err(e) =
                load_tasks_file(&path, root.parent().unwrap(), None, &Inherited::default())
            {
                let message = e.to_string();
                if message.contains("not found") {
                    continue;
                }
                let (_, message) = message.split_once(": ").unwrap();
                let (_, reason) = message.split_once(": ").unwrap_or(("", message));
                failures
                    .entry(reason.to_string())
                    .or_default()
                    .push(format!("{rel}:{}", start + 1));
            }
        }
    }
    let mut sorted: Vec<_> = failures.into_iter().collect();
    sorted.sort_by_key(|(_, places)| std::cmp::Reverse(places.len()));
    let failed: usize = sorted.iter().map(|(_, p)| p.len()).sum();
    println!("{failed} of {total} top-level tasks fail to load");
    for (reason, places) in sorted {
        println!("{:4}  {reason}   e.g. {}", places.len(), places[0]);
    }
}

fn glob_tasks(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for target in std::fs::read_dir(root).unwrap().flatten() {
        let tasks = target.path().join("tasks");
        for file in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            if file
                .path()
                .extension()
                .is_some_and(|e| e == "yml" || e == "yaml")
            {
                out.push(file.path());
            }
        }
    }
    out
}

fn load_text(text: &str) -> Playbook {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(&path, text).unwrap();
    load_playbook(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn action_form_args_keyword_and_collection_names() {
    let book = load_text(
        "- hosts: all\n  tasks:\n    - action: copy src=a dest=/b\n    - action:\n        module: ansible.legacy.shell\n        cmd: make\n    - ansible.builtin.shell: make install\n      args:\n        chdir: /src\n        creates: /usr/bin/x\n",
    );
    let tasks = &book.plays[0].sections[0].tasks;
    let (name, args) = module(&tasks[0]);
    assert_eq!((name, args["dest"].as_str()), ("copy", Some("/b")));
    let (name, args) = module(&tasks[1]);
    assert_eq!((name, args["cmd"].as_str()), ("shell", Some("make")));
    let (name, args) = module(&tasks[2]);
    assert_eq!(name, "shell");
    assert_eq!(args["_raw_params"], "make install");
    assert_eq!(args["chdir"], "/src");
}

#[test]
fn aliases_are_renamed_and_may_not_repeat() {
    let book = load_text("- hosts: all\n  tasks:\n    - systemd: unit=nginx daemon-reload=yes\n");
    let args = module(&book.plays[0].sections[0].tasks[0]).1;
    assert_eq!(args["name"], "nginx");
    assert_eq!(args["daemon_reload"], "yes");
    let err =
        site_error("- hosts: all\n  tasks:\n    - file:\n        path: /a\n        dest: /b\n");
    assert_eq!(
        err,
        "site.yml:5:9: file: `dest` and `path` are the same parameter; keep one"
    );
}

#[test]
fn yaml_anchors_and_merge_keys_in_playbooks() {
    let book = load_text(
        "- hosts: all\n  vars:\n    base: &base {owner: root, group: root}\n  tasks:\n    - file:\n        <<: *base\n        path: /srv\n        state: directory\n",
    );
    let args = module(&book.plays[0].sections[0].tasks[0]).1;
    assert_eq!(args["owner"], "root");
    assert_eq!(args["path"], "/srv");
}

#[test]
fn role_parameters_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "site.yml",
        "- hosts: all\n  roles:\n    - app\n    - app\n    - {role: app, port: 81}\n    - role: app\n      when: x\n      port: 81\n",
    );
    write(
        "roles/app/tasks/main.yml",
        "- debug: msg={{ port | default(80) }}\n",
    );
    let book = load_playbook(&dir.path().join("site.yml")).unwrap();
    let play = &book.plays[0];
    // `app` twice with no params runs once; with port 81 once more.
    assert_eq!(play.roles.len(), 2);
    assert_eq!(play.roles[1].params["port"], 81);
    assert_eq!(play.sections[0].tasks.len(), 2);
}

/// Writes `files` into a fresh directory and loads its `site.yml`.
fn load_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Playbook) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let book = load_playbook(&dir.path().join("site.yml")).unwrap_or_else(|e| panic!("{e}"));
    (dir, book)
}

#[test]
fn import_role_expands_with_its_keywords_and_the_role_joins_the_play() {
    let (_dir, book) = load_files(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role:\n        name: web\n        tasks_from: sub/entry.yml\n        vars_from: other\n      when: go\n      tags: [w]\n      vars: {v: 1}\n",
        ),
        ("roles/web/tasks/main.yml", "- debug: msg=main\n"),
        ("roles/web/tasks/sub/entry.yml", "- debug: msg=sub\n"),
        ("roles/web/defaults/main/00.yml", "a: 1\nb: 1\n"),
        ("roles/web/defaults/main/01.yml", "b: 2\n"),
        ("roles/web/defaults/main/02.yml", ""),
        ("roles/web/vars/main.yml", "flavour: main\n"),
        ("roles/web/vars/other.yml", "flavour: other\n"),
        (
            "roles/web/handlers/main.yml",
            "- name: restart\n  debug: msg=r\n",
        ),
    ]);
    let play = &book.plays[0];
    let tasks = &play.sections[0].tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(module(&tasks[0]).1["msg"], "sub");
    assert_eq!(tasks[0].when, ["go"]);
    assert_eq!(tasks[0].tags, ["w"]);
    assert_eq!(tasks[0].vars["v"], 1);
    assert_eq!(tasks[0].display_name(), "web : debug");
    let role = tasks[0].role.as_ref().unwrap();
    assert!(role.public, "an imported role is public");
    assert_eq!(role.defaults["a"], 1);
    assert_eq!(role.defaults["b"], 2, "later files of defaults/main/ win");
    assert_eq!(
        role.vars["flavour"], "other",
        "vars_from replaces vars/main"
    );
    assert_eq!(play.roles.len(), 1);
    assert_eq!(play.handlers.len(), 1);
    assert_eq!(play.handlers[0].when, ["go"], "handlers inherit the import");
}

#[test]
fn include_role_stays_dynamic_and_is_checked_at_load() {
    let (_dir, book) = load_files(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_role:\n        name: \"{{ item }}\"\n        public: yes\n        apply: {tags: [x], become: true}\n      loop: [web]\n    - include_role: {name: web, tasks_from: \"{{ f }}\", allow_duplicates: false, rolespec_validate: false}\n",
        ),
        ("roles/web/tasks/main.yml", "- debug: msg=main\n"),
    ]);
    let play = &book.plays[0];
    assert!(play.roles.is_empty(), "included roles join when they run");
    let tasks = &play.sections[0].tasks;
    let Action::IncludeRole(first) = &tasks[0].action else {
        panic!("{:?}", tasks[0].action)
    };
    assert_eq!(first.name, "{{ item }}");
    assert!(first.public && first.allow_duplicates);
    assert_eq!(first.apply.tags, ["x"]);
    assert_eq!(first.apply.become_, Some(true));
    assert!(tasks[0].loop_.is_some());
    let Action::IncludeRole(second) = &tasks[1].action else {
        panic!("{:?}", tasks[1].action)
    };
    assert_eq!(second.from.tasks.as_deref(), Some("{{ f }}"));
    assert!(!second.public && !second.allow_duplicates);
}

#[test]
fn role_include_errors_name_the_task() {
    let err = site_error("- hosts: all\n  tasks:\n    - include_role: {name: nope}\n");
    assert!(
        err.starts_with("site.yml:3:7: role `nope` not found; looked in "),
        "{err}"
    );
    assert!(err.contains("roles/nope"), "{err}");
    let role = ("roles/web/tasks/main.yml", "- debug: msg=main\n");
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: web, tasks_from: missing.yml}\n",
        ),
        role,
    ]);
    assert!(
        err.starts_with("site.yml:3:7: role `web`: `tasks_from: missing.yml` not found"),
        "{err}"
    );
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: web, tasks_from: ../../x.yml}\n",
        ),
        role,
    ]);
    assert!(err.contains("outside the role's tasks/ directory"), "{err}");
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: web}\n      loop: [1]\n",
        ),
        role,
    ]);
    assert_eq!(
        err,
        "site.yml:4:7: `loop` cannot be used on import_role (a static import); use include_role"
    );
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: \"{{ r }}\"}\n",
        ),
        role,
    ]);
    assert!(err.contains("cannot be templated"), "{err}");
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_role: {name: web, apply: {tags: x}}\n",
        ),
        role,
    ]);
    assert!(err.contains("`apply` is for include_role"), "{err}");
    let err = site_error("- hosts: all\n  tasks:\n    - include_role: {tasks_from: x}\n");
    assert_eq!(
        err,
        "site.yml:3:7: include_role: missing required parameter `name` (name is required)"
    );
    let err = load_error(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_role: {name: web}\n",
        ),
        ("roles/web/tasks/main.yml", "- shel: ls\n"),
    ]);
    assert_eq!(
        err,
        "roles/web/tasks/main.yml:1:3: unknown module `shel` (did you mean `shell`?)"
    );
}

#[test]
fn a_role_imported_from_an_included_role_sees_its_defaults_and_vars() {
    let (dir, book) = load_files(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_role: {name: outer}\n",
        ),
        ("roles/outer/defaults/main.yml", "d: outer\n"),
        ("roles/outer/vars/main.yml", "v: outer\n"),
        (
            "roles/outer/tasks/main.yml",
            "- import_role: {name: inner}\n",
        ),
        (
            "roles/inner/tasks/main.yml",
            "- debug: msg={{ d }}{{ v }}\n",
        ),
    ]);
    let include = &book.plays[0].sections[0].tasks[0];
    let loaded = herd::playbook::load_role_include(
        "outer",
        &Default::default(),
        false,
        dir.path(),
        None,
        &Inherited::for_include(include),
        &include.location,
    )
    .unwrap();
    assert_eq!(loaded.tasks.len(), 1);
    let inner = loaded.tasks[0].role.as_ref().unwrap();
    assert_eq!(inner.name, "inner");
    assert_eq!(inner.defaults["d"], "outer");
    assert_eq!(inner.vars["v"], "outer");
    assert_eq!(inner.params["ansible_parent_role_names"], json!(["outer"]));
    let names: Vec<(&str, bool)> = loaded
        .roles
        .iter()
        .map(|r| (r.name.as_str(), r.public))
        .collect();
    assert_eq!(names, [("outer", false), ("inner", true)]);
}
