//! What a managed host sends back is data, never a template: command
//! output holding `{{ lookup('pipe', ...) }}` must print as it is and never
//! run on the controller, whichever way a playbook uses it (SECURITY.md).

use crate::fleet;
use crate::support;

use fleet::Fleet;
use support::Herd;

/// A playbook that uses a hostile command output every way a playbook can:
/// `when`, `debug` msg and var, `set_fact` and the fact afterwards, a
/// template file, the `template` lookup, loops and an include loop over its
/// lines, `changed_when` on the result's fields, `until`, `hostvars`,
/// `ansible_facts`, a handler and a rescue.
const PLAYBOOK: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: read the motd
      command: cat {{ root_dir }}/motd
      register: motd
      changed_when: false

    - name: when mentions it
      debug:
        msg: "motd says {{ motd.stdout }}"
      when: motd.rc == 0

    - name: keep it
      set_fact:
        copied: "{{ motd.stdout }}"
        lines: "{{ motd.stdout_lines }}"

    - name: the fact later
      debug:
        msg: "copied {{ copied }} / {{ ansible_facts.copied }}"

    - name: var
      debug:
        var: motd.stdout

    - name: a template file
      template:
        src: t.j2
        dest: "{{ root_dir }}/rendered"

    - name: the template lookup
      debug:
        msg: "{{ lookup('template', 't.j2') }}"

    - name: a loop over the lines
      copy:
        content: "item {{ item }}\n"
        dest: "{{ root_dir }}/item"
      loop: "{{ motd.stdout_lines }}"
      when: item != ''

    - name: an include loop over the lines
      include_tasks: inner.yml
      loop: "{{ lines }}"

    - name: the result's own fields, with retries
      command: cat {{ root_dir }}/motd
      register: again
      changed_when: "stdout != ''"
      until: again.stdout is defined
      retries: 1
      delay: 0
      notify: tell

    - name: hostvars
      debug:
        msg: "hostvars {{ hostvars[inventory_hostname].motd.stdout }}"

    - name: a rescue sees the failed result
      block:
        - command: /bin/false {{ motd.stdout | quote }}
      rescue:
        - debug:
            msg: "rescued {{ ansible_failed_result.cmd | join(' ') }}"

  handlers:
    - name: tell
      debug:
        msg: "handler {{ again.stdout }}"
"#;

#[test]
fn host_output_is_never_rendered_as_a_template() {
    let fleet = Fleet::builder().hosts(1).start();
    let marker = fleet.dir.join("controller-ran-this");
    let payload = format!("{{{{ lookup('pipe', 'touch {}') }}}}", marker.display());
    let host = &fleet.hosts[0];
    std::fs::write(host.root.join("motd"), format!("{payload}\n")).unwrap();
    std::fs::write(fleet.dir.join("site.yml"), PLAYBOOK).unwrap();
    std::fs::write(
        fleet.dir.join("t.j2"),
        "{{ copied }}|{{ motd.stdout }}|{{ lines[0] }}\n",
    )
    .unwrap();
    std::fs::write(
        fleet.dir.join("inner.yml"),
        "- debug:\n    msg: \"inner {{ item }}\"\n",
    )
    .unwrap();

    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "-v"])
        .run();
    assert!(
        !marker.exists(),
        "host output ran on the controller:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for printed in [
        format!("motd says {payload}"),
        format!("copied {payload} / {payload}"),
        format!("inner {payload}"),
        format!("hostvars {payload}"),
        format!("handler {payload}"),
        format!("rescued /bin/false {payload}"),
        format!("{payload}|{payload}|{payload}"),
    ] {
        assert!(out.stdout.contains(&printed), "{printed}\n{}", out.stdout);
    }
    assert_eq!(
        std::fs::read_to_string(host.root.join("rendered")).unwrap(),
        format!("{payload}|{payload}|{payload}\n")
    );
    assert_eq!(
        std::fs::read_to_string(host.root.join("item")).unwrap(),
        format!("item {payload}\n")
    );
}

/// `debug`'s `var` is evaluated as an expression after rendering, and so is
/// a conditional whose template stands outside a string literal: built from
/// host output, they would run it, so herd refuses. `assert`'s `that` reads
/// host data as values otherwise.
#[test]
fn an_expression_built_from_host_output_is_refused() {
    let fleet = Fleet::builder().hosts(1).start();
    let marker = fleet.dir.join("controller-ran-this");
    let host = &fleet.hosts[0];
    // Without braces too: an expression needs none.
    let expression = format!("lookup('pipe', 'touch {}')", marker.display());
    std::fs::write(host.root.join("motd"), format!("{expression}\n")).unwrap();
    let playbook = "
- hosts: web
  gather_facts: false
  tasks:
    - command: cat {{ root_dir }}/motd
      register: motd
    - debug:
        var: \"{{ motd.stdout }}\"
      ignore_errors: true
    - assert:
        that: \"{{ motd.stdout }}\"
    - assert:
        that: \"motd.stdout == '{{ motd.stdout }}'\"
    - assert:
        that: \"{{ motd.stdout }} == 1\"
      ignore_errors: true
";
    std::fs::write(fleet.dir.join("site.yml"), playbook).unwrap();
    let out = Herd::in_dir(&fleet.dir).args(["play", "site.yml"]).run();
    assert!(!marker.exists(), "{}\n{}", out.stdout, out.stderr);
    // `debug: var` and a template outside a literal are refused; a whole
    // `{{ expr }}` is the expression, and a literal's template renders to
    // a value (as ansible-core 2.19): both read host data as values.
    assert_eq!(
        out.stdout
            .matches("must not be built from host data")
            .count(),
        2,
        "{}",
        out.stdout
    );
}

/// A dynamic inventory script's output is data too (a CMDB can hold
/// anything): its host and group vars print as they are.
#[test]
fn inventory_script_output_is_never_rendered_as_a_template() {
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::builder().hosts(1).start();
    let marker = fleet.dir.join("controller-ran-this");
    let payload = format!("{{{{ lookup('pipe', 'touch {}') }}}}", marker.display());
    let output = serde_json::json!({
        "web": {"hosts": ["host1"], "vars": {"from_group": payload}},
        "_meta": {"hostvars": {"host1": {"from_host": payload}}},
    });
    let script = fleet.dir.join("cmdb.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        fleet.dir.join("site.yml"),
        "- hosts: web\n  gather_facts: false\n  tasks:\n\
         \x20   - debug:\n        msg: \"cmdb {{ from_host }} {{ from_group }}\"\n      when: from_host is defined\n\
         \x20   - debug:\n        msg: \"via hostvars {{ hostvars['host1'].from_host }}\"\n",
    )
    .unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "-i", "inventory.yml", "-i"])
        .args([&script])
        .run();
    assert!(!marker.exists(), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for printed in [
        format!("cmdb {payload} {payload}"),
        format!("via hostvars {payload}"),
    ] {
        assert!(out.stdout.contains(&printed), "{printed}\n{}", out.stdout);
    }
}

/// `include_vars` loads controller files as the admin's variables: a path
/// a host names (its output, via `register`) must stay inside the role,
/// task and play directories, or a host could have the controller load any
/// of its YAML files (and their values end up in what is sent to hosts).
#[test]
fn include_vars_of_a_path_from_host_output_stays_in_the_playbook_dirs() {
    let fleet = Fleet::builder().hosts(1).start();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yml");
    std::fs::write(&secret, "token: controller-secret\n").unwrap();
    std::fs::write(fleet.dir.join("mine.yml"), "token: from-the-play\n").unwrap();
    let host = &fleet.hosts[0];
    std::fs::write(host.root.join("outside"), format!("{}\n", secret.display())).unwrap();
    std::fs::write(host.root.join("inside"), "mine.yml\n").unwrap();
    let playbook = "
- hosts: web
  gather_facts: false
  tasks:
    - command: cat {{ root_dir }}/outside
      register: outside
    - include_vars: \"{{ outside.stdout }}\"
      ignore_errors: true
    - command: cat {{ root_dir }}/inside
      register: inside
    - include_vars:
        file: \"{{ inside.stdout }}\"
    - copy:
        content: \"{{ token | default('none') }}\"
        dest: \"{{ root_dir }}/token\"
";
    std::fs::write(fleet.dir.join("site.yml"), playbook).unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert!(
        out.stdout
            .contains("outside the role, task and play directories"),
        "{}",
        out.stdout
    );
    let token = std::fs::read_to_string(host.root.join("token")).unwrap();
    assert_eq!(token, "from-the-play");
}
