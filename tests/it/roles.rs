//! `import_role` and `include_role` against real sshd hosts: tasks_from
//! (in a subdirectory, templated), vars_from, defaults as a directory,
//! role handlers (also of a delegated import), loops, `when`, rescue, and
//! which role variables the rest of the play sees (public imports, private
//! includes), as Ansible runs them.

use crate::fleet;
use crate::support;

use fleet::Fleet;
use support::Herd;

/// Writes `files` (path relative to the fleet's directory, text).
fn write(fleet: &Fleet, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = fleet.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const WEB_ROLE: &[(&str, &str)] = &[
    (
        "roles/web/defaults/main/00.yml",
        "port: 80\ngreeting: hello\n",
    ),
    ("roles/web/defaults/main/01.yml", "port: 8080\n"),
    ("roles/web/vars/main.yml", "flavour: main\n"),
    ("roles/web/vars/other.yml", "flavour: other\n"),
    (
        "roles/web/tasks/main.yml",
        "- copy:\n    content: \"{{ greeting }} {{ port }} {{ flavour }}\"\n    dest: \"{{ root_dir }}/imported\"\n  notify: restart web\n",
    ),
    (
        "roles/web/tasks/sub/extra.yml",
        "- copy:\n    content: \"{{ flavour }} {{ name }}\"\n    dest: \"{{ root_dir }}/extra-{{ name }}\"\n",
    ),
    (
        "roles/web/handlers/main.yml",
        "- name: restart web\n  copy:\n    content: \"restarted {{ port }}\"\n    dest: \"{{ root_dir }}/handler\"\n",
    ),
];

#[test]
fn import_and_include_role_run_the_files_they_name() {
    let fleet = Fleet::builder().hosts(2).start();
    write(&fleet, WEB_ROLE);
    write(
        &fleet,
        &[(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - import_role:\n        name: web\n\
             \x20   - name: only on host1, with the other vars\n      include_role:\n        name: web\n        tasks_from: sub/extra.yml\n        vars_from: other.yml\n      vars:\n        name: one\n      when: inventory_hostname == 'host1'\n\
             \x20   - include_role:\n        name: web\n        tasks_from: \"{{ 'sub/' ~ 'extra' }}\"\n      loop: [a, b]\n      loop_control:\n        loop_var: name\n\
             \x20   - copy:\n        content: \"{{ port }} {{ flavour }}\"\n        dest: \"{{ root_dir }}/play-sees\"\n",
        )],
    );
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let read = |host: usize, name: &str| {
        std::fs::read_to_string(fleet.hosts[host].root.join(name))
            .unwrap_or_else(|e| panic!("host{} {name}: {e}\n{}", host + 1, out.stdout))
    };
    for host in 0..2 {
        // defaults/main/ is a directory: its files in order, later ones win.
        assert_eq!(read(host, "imported"), "hello 8080 main");
        assert_eq!(read(host, "handler"), "restarted 8080");
        assert_eq!(read(host, "extra-a"), "main a");
        assert_eq!(read(host, "extra-b"), "main b");
        // The imported role is public; the includes (vars_from other) are not.
        assert_eq!(read(host, "play-sees"), "8080 main");
    }
    assert_eq!(read(0, "extra-one"), "other one");
    assert!(!fleet.hosts[1].root.join("extra-one").exists());
}

#[test]
fn included_roles_in_loops_rescue_and_delegation() {
    let fleet = Fleet::builder().hosts(1).start();
    write(
        &fleet,
        &[
            (
                "roles/mark/tasks/main.yml",
                "- copy:\n    content: \"{{ role_name }}\"\n    dest: \"{{ root_dir }}/{{ mark }}\"\n",
            ),
            (
                "roles/failing/tasks/main.yml",
                "- fail:\n    msg: on purpose\n",
            ),
            (
                "roles/delegated/tasks/main.yml",
                "- command: \"true\"\n  notify: check delegation\n",
            ),
            (
                "roles/delegated/handlers/main.yml",
                "- name: check delegation\n  copy:\n    content: \"{{ ansible_delegated_vars is defined }}\"\n    dest: \"{{ root_dir }}/delegated\"\n",
            ),
            (
                "site.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n\
                 \x20   - include_role:\n        name: \"{{ item }}\"\n      vars:\n        mark: \"looped-{{ item }}\"\n      with_items: [mark]\n\
                 \x20   - block:\n        - include_role: {name: failing}\n      rescue:\n        - include_role: {name: mark}\n          vars: {mark: rescued}\n      always:\n        - import_role: {name: mark}\n          vars: {mark: always}\n\
                 \x20   - import_role: {name: delegated}\n      delegate_to: localhost\n",
            ),
        ],
    );
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "--format", "json"])
        .run()
        .success();
    let root = &fleet.hosts[0].root;
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", out.stdout))
    };
    assert_eq!(read("looped-mark"), "mark");
    assert_eq!(read("rescued"), "mark");
    assert_eq!(read("always"), "mark");
    // The role's handler runs delegated, as the import it came from.
    assert_eq!(read("delegated"), "True");
    let recap = out
        .json_lines()
        .into_iter()
        .rfind(|e| e["event"] == "recap")
        .unwrap();
    assert_eq!(recap["hosts"]["host1"]["failed"], 0, "{}", out.stdout);
    assert_eq!(recap["hosts"]["host1"]["rescued"], 1, "{}", out.stdout);
}

#[test]
fn a_missing_role_stops_the_play_before_any_host_is_touched() {
    let fleet = Fleet::builder().hosts(1).start();
    write(
        &fleet,
        &[(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: \"{{ root_dir }}/touched\"}\n    - include_role: {name: nowhere}\n",
        )],
    );
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .code(2)
        .stderr_has("site.yml:5:7: role `nowhere` not found; looked in ");
    assert!(!fleet.hosts[0].root.join("touched").exists());
}

#[test]
fn a_public_include_shares_its_vars_and_allow_duplicates_false_runs_once() {
    let fleet = Fleet::builder().hosts(1).start();
    write(
        &fleet,
        &[
            ("roles/count/vars/main.yml", "counted: from the role\n"),
            (
                "roles/count/tasks/main.yml",
                "- shell: echo run >> {{ root_dir }}/runs\n",
            ),
            (
                "site.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n\
                 \x20   - include_role:\n        name: count\n        public: true\n        apply:\n          tags: [x]\n      tags: [x]\n\
                 \x20   - include_role:\n        name: count\n        allow_duplicates: false\n        apply:\n          tags: [x]\n      tags: [x]\n\
                 \x20   - include_role: {name: count}\n\
                 \x20   - copy:\n        content: \"{{ counted }}\"\n        dest: \"{{ root_dir }}/public\"\n      tags: [x]\n",
            ),
        ],
    );
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "--tags", "x"])
        .run()
        .success();
    let root = &fleet.hosts[0].root;
    // `apply` tags the role's tasks; the untagged include is not selected.
    let runs = std::fs::read_to_string(root.join("runs")).unwrap();
    assert_eq!(runs, "run\n", "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(root.join("public")).unwrap(),
        "from the role"
    );
}
