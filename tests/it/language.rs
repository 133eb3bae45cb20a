//! Ansible language features public roles use, against real sshd hosts:
//! `delegate_to` another host (with `delegate_facts`), `include_tasks`
//! with `apply`, `with_subelements` / `with_flattened`, a templated
//! `no_log`, and the `password_hash` / `shuffle` filters and `varnames`
//! lookup in a play.
//!
//! The fleet: web = host1 (127.0.0.2), host2 (127.0.0.3); db = host3
//! (127.0.0.4).

use crate::fleet;
use crate::support;

use fleet::Fleet;
use serde_json::Value;
use support::Herd;

fn read(fleet: &Fleet, host: usize, file: &str) -> String {
    let path = fleet.hosts[host].root.join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The results of the task named `name` in `--format json` output.
fn task_results(stdout: &str, name: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "task_done" && e["name"] == name)
        .unwrap_or_else(|| panic!("no results for {name}:\n{stdout}"))["results"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn delegate_to_runs_on_the_other_host_and_the_result_is_the_current_hosts() {
    let fleet = Fleet::builder().hosts(3).start();
    // The sshd a command reached is the third word of $SSH_CONNECTION.
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: web
  gather_facts: false
  tasks:
    - name: where
      shell: echo "$SSH_CONNECTION" | cut -d' ' -f3
      delegate_to: "{{ groups['db'][0] }}"
      register: where
    - name: by address
      shell: echo "$SSH_CONNECTION" | cut -d' ' -f3
      delegate_to: "{{ hostvars['host2'].ansible_host }}"
      register: by_address
    - name: for the delegate
      copy:
        content: "{{ inventory_hostname }} {{ ansible_delegated_vars[groups['db'][0]].root_dir == hostvars['host3'].root_dir }}"
        dest: "{{ hostvars[groups['db'][0]].root_dir }}/from_{{ inventory_hostname }}"
      delegate_to: host3
    - block:
        - set_fact:
            told_by: "{{ inventory_hostname }}"
      delegate_to: host3
      delegate_facts: true
    - copy:
        content: "{{ where.stdout }} {{ by_address.stdout }} {{ told_by | default('none') }}"
        dest: "{{ root_dir }}/where"
- hosts: db
  gather_facts: false
  tasks:
    - copy:
        content: "{{ told_by }}"
        dest: "{{ root_dir }}/told_by"
"#,
    )
    .unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "--format", "json"])
        .run()
        .success();
    // The command ran on host3's sshd (and host2's), for host1 and host2.
    assert_eq!(read(&fleet, 0, "where"), "127.0.0.4 127.0.0.3 none");
    assert_eq!(read(&fleet, 1, "where"), "127.0.0.4 127.0.0.3 none");
    // Each host's task wrote into the delegate's directory with its own
    // variables; delegate_facts gave the fact to host3.
    assert_eq!(read(&fleet, 2, "from_host1"), "host1 True");
    assert_eq!(read(&fleet, 2, "from_host2"), "host2 True");
    let told = read(&fleet, 2, "told_by");
    assert!(told == "host1" || told == "host2", "{told}");
    // Results are the current hosts', with the delegate beside them.
    let results = task_results(&out.stdout, "where");
    let hosts: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap(),
                r["delegated_to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(hosts, [("host1", "host3"), ("host2", "host3")]);

    // The text output says `host -> delegate`, as Ansible's.
    let text = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert!(text.stdout.contains("host1 -> host3"), "{}", text.stdout);
}

#[test]
fn a_delegate_per_loop_item_is_a_clear_error_unless_the_task_is_skipped() {
    let fleet = Fleet::builder().hosts(2).start();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: host1
  gather_facts: false
  tasks:
    - command: "true"
      loop: [host2]
      delegate_to: "{{ item }}"
      when: false
    - command: "true"
      loop: [host2]
      delegate_to: "{{ item }}"
      ignore_errors: true
"#,
    )
    .unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("skipped: host1")
        .stdout_has("a delegate per loop item is not supported");
    assert!(out.stdout.contains("ignored: host1"), "{}", out.stdout);
}

#[test]
fn include_tasks_apply_gives_its_keywords_to_every_included_task() {
    let fleet = Fleet::builder().hosts(2).start();
    std::fs::write(
        fleet.path("inc.yml"),
        "- copy:\n    content: \"{{ greeting }}\"\n    dest: \"{{ root_dir }}/one\"\n\
         - copy:\n    content: \"{{ greeting }} again\"\n    dest: \"{{ root_dir }}/two\"\n",
    )
    .unwrap();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: all
  gather_facts: false
  tasks:
    - include_tasks:
        file: inc.yml
        apply:
          tags: [applied]
          vars:
            greeting: hello
          when: inventory_hostname == 'host1'
      tags: [applied]
    - copy:
        content: untagged
        dest: "{{ root_dir }}/untagged"
"#,
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml", "--tags", "applied"])
        .run()
        .success();
    assert_eq!(read(&fleet, 0, "one"), "hello");
    assert_eq!(read(&fleet, 0, "two"), "hello again");
    // apply's `when` left host2 out; --tags left the untagged task out.
    assert!(!fleet.hosts[1].root.join("one").exists());
    assert!(!fleet.hosts[0].root.join("untagged").exists());
}

#[test]
fn with_subelements_and_with_flattened_loop_as_ansible() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: all
  gather_facts: false
  vars:
    users:
      - name: alice
        ssh_keys: [a1, a2]
      - name: bob
        ssh_keys: [b1]
      - name: carol
    more: [[x, [y]], z]
  tasks:
    - command: echo "{{ item.0.name }}={{ item.1 }} {{ item.0.ssh_keys is defined }}"
      with_subelements:
        - "{{ users }}"
        - ssh_keys
        - skip_missing: true
      register: pairs
    - command: echo "{{ item }}"
      with_flattened:
        - [a, [b]]
        - "{{ more }}"
      register: flat
    - copy:
        content: "{{ pairs.results | map(attribute='stdout') | join(',') }}|{{ flat.results | map(attribute='stdout') | join(',') }}"
        dest: "{{ root_dir }}/loops"
"#,
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert_eq!(
        read(&fleet, 0, "loops"),
        "alice=a1 False,alice=a2 False,bob=b1 False|a,b,x,y,z"
    );
}

#[test]
fn a_templated_no_log_hides_the_output_of_the_hosts_it_is_true_for() {
    let fleet = Fleet::builder().hosts(2).start();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: all
  gather_facts: false
  tasks:
    - fail:
        msg: "secret of {{ inventory_hostname }}"
      no_log: "{{ inventory_hostname == 'host1' }}"
      ignore_errors: true
"#,
    )
    .unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert!(!out.stdout.contains("secret of host1"), "{}", out.stdout);
    assert!(out.stdout.contains("'no_log: true'"), "{}", out.stdout);
    assert!(out.stdout.contains("secret of host2"), "{}", out.stdout);
}

#[test]
fn password_hash_shuffle_and_varnames_in_a_play() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: all
  gather_facts: false
  vars:
    app_port: 80
    app_user: www
  tasks:
    - copy:
        content: |
          {{ 'secret' | password_hash('sha512', 'mysalt', rounds=5000) }}
          {{ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] | shuffle(seed='web1') | join(',') }}
          {{ lookup('varnames', '^app_') }}
        dest: "{{ root_dir }}/filters"
"#,
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    // The strings Ansible 2.19 (passlib, Python's random) gives.
    assert_eq!(
        read(&fleet, 0, "filters"),
        "$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1\n\
         2,6,7,8,1,3,0,9,4,5\n\
         app_port,app_user\n"
    );
}

#[test]
fn herd_and_ansible_agree_on_delegation_subelements_and_apply() {
    let Some(ansible) = support::ansible::playbook_command() else {
        return;
    };
    let playbook = r#"- hosts: web
  gather_facts: false
  vars:
    users:
      - {name: alice, ssh_keys: [a1, a2]}
      - {name: bob, ssh_keys: [b1]}
      - {name: carol}
  tasks:
    - shell: echo "$SSH_CONNECTION" | cut -d' ' -f3
      delegate_to: "{{ groups['db'][0] }}"
      register: where
    - copy:
        content: "{{ inventory_hostname }} {{ ansible_delegated_vars['host3'].root_dir == hostvars['host3'].root_dir }}"
        dest: "{{ hostvars['host3'].root_dir }}/from_{{ inventory_hostname }}"
      delegate_to: host3
    - set_fact:
        told: "by {{ groups['web'] | length }}"
      delegate_to: host3
      delegate_facts: true
    - command: echo "{{ item.0.name }}={{ item.1 }} {{ item.0.ssh_keys is defined }}"
      with_subelements:
        - "{{ users }}"
        - ssh_keys
        - skip_missing: true
      register: pairs
    - include_tasks:
        file: inc.yml
        apply:
          vars:
            greeting: hi
          when: inventory_hostname == 'host1'
    - copy:
        content: "{{ where.stdout }}|{{ pairs.results | map(attribute='stdout') | join(',') }}|{{ told | default('none') }}|{{ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] | shuffle(seed=inventory_hostname) | join(',') }}"
        dest: "{{ root_dir }}/out"
- hosts: db
  gather_facts: false
  tasks:
    - copy:
        content: "{{ told }}"
        dest: "{{ root_dir }}/told"
"#;
    let inc = "- copy:\n    content: \"{{ greeting }}\"\n    dest: \"{{ root_dir }}/greeting\"\n";
    let by_herd = Fleet::builder().hosts(3).start();
    let by_ansible = Fleet::builder().hosts(3).start();
    for fleet in [&by_herd, &by_ansible] {
        std::fs::write(fleet.path("site.yml"), playbook).unwrap();
        std::fs::write(fleet.path("inc.yml"), inc).unwrap();
    }
    let herd = Herd::in_dir(&by_herd.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let ansible_text = support::ansible::run_playbook(
        &ansible,
        &by_ansible.dir,
        &by_ansible.known_hosts,
        "site.yml",
        &[],
    );
    assert_eq!(
        support::ansible::recap_text(&herd.stdout),
        support::ansible::recap_text(&ansible_text),
        "herd:\n{}\nansible:\n{ansible_text}",
        herd.stdout
    );
    // The same files (both fleets use the same addresses, on other ports).
    for (i, name) in ["host1", "host2", "host3"].iter().enumerate() {
        for file in ["out", "from_host1", "from_host2", "told", "greeting"] {
            let read = |fleet: &Fleet| std::fs::read_to_string(fleet.hosts[i].root.join(file)).ok();
            assert_eq!(read(&by_herd), read(&by_ansible), "{name}/{file}");
        }
    }
}
