//! herd run in an existing Ansible project directory, as a new user would:
//! ansible.cfg instead of herd.toml, roles from Ansible's search paths and
//! collections, `localhost ansible_connection=local` and the implicit
//! localhost, and INI inventory values typed as Ansible 2.19 types them.

use crate::fleet;
use crate::support;

use std::path::{Path, PathBuf};

use fleet::Fleet;
use support::{Herd, scratch};

/// An Ansible project for `fleet` in its directory: no herd.toml, an
/// ansible.cfg with `cfg_extra` appended to [defaults], an INI inventory
/// whose hosts say only where they are (user, key and host keys come from
/// ansible.cfg).
fn ansible_project(fleet: &Fleet, cfg_extra: &str, inventory_extra: &str) -> PathBuf {
    let dir = fleet.dir.clone();
    std::fs::remove_file(&fleet.project_file).unwrap();
    let mut hosts = String::from("[web]\n");
    for host in &fleet.hosts {
        hosts.push_str(&format!(
            "{} ansible_host={} ansible_port={} root_dir={}\n",
            host.name,
            host.addr,
            host.port,
            host.root.display()
        ));
    }
    hosts.push_str(inventory_extra);
    std::fs::write(dir.join("hosts.ini"), hosts).unwrap();
    std::fs::write(
        dir.join("ansible.cfg"),
        format!(
            "# an ordinary Ansible project\n[defaults]\ninventory = hosts.ini\nremote_user = {user}\nprivate_key_file = {key}\nforks = 5\nstdout_callback = yaml\n{cfg_extra}\n\n[ssh_connection]\nssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes\npipelining = True\n",
            user = fleet.user,
            key = fleet.client_key.display(),
            kh = fleet.known_hosts.display(),
        ),
    )
    .unwrap();
    dir
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn ansible_cfg_is_the_project_file_when_there_is_no_herd_toml() {
    let fleet = Fleet::builder().hosts(2).start();
    let dir = ansible_project(&fleet, "", "");
    write(
        &dir,
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - copy: {content: \"{{ inventory_hostname }}\\n\", dest: \"{{ root_dir }}/from-cfg\"}\n",
    );
    Herd::in_dir(&dir)
        .args(["-v", "play", "site.yml"])
        .run()
        .success()
        .stderr_has(&format!(
            "using {} as config file",
            dir.join("ansible.cfg").display()
        ))
        // Ansible's default ssh_args need nothing from herd: no warning.
        .stderr_has("herd keeps one connection per host");
    for host in &fleet.hosts {
        assert_eq!(
            std::fs::read_to_string(host.root.join("from-cfg")).unwrap(),
            format!("{}\n", host.name)
        );
    }
    // `herd run` reads the same file.
    Herd::in_dir(&dir)
        .args(["run", "web", "--", "echo", "hi"])
        .run()
        .success()
        .stdout_has("hi");
}

#[test]
fn herd_toml_wins_over_ansible_cfg_and_bad_cfg_values_say_where() {
    let (_t, dir) = scratch();
    write(
        &dir,
        "ansible.cfg",
        "[defaults]\ninventory = cfg.ini\n\nforks = many\n",
    );
    write(&dir, "cfg.ini", "[cfg]\nfrom-cfg\n");
    Herd::in_dir(&dir)
        .args(["inventory", "list"])
        .run()
        .code(2)
        .stderr_has(&format!("{}:4:", dir.join("ansible.cfg").display()))
        .stderr_has("forks = 20");
    write(&dir, "ansible.cfg", "[defaults]\ninventory = cfg.ini\n");
    let out = Herd::in_dir(&dir)
        .args(["inventory", "list"])
        .run()
        .success();
    assert_eq!(out.stdout, "from-cfg\n");
    // ANSIBLE_CONFIG names another file, as for Ansible.
    write(&dir, "other/custom.cfg", "[defaults]\ninventory = o.ini\n");
    write(&dir, "other/o.ini", "from-env-cfg\n");
    let out = Herd::in_dir(&dir)
        .env("ANSIBLE_CONFIG", dir.join("other/custom.cfg"))
        .args(["inventory", "list"])
        .run()
        .success();
    assert_eq!(out.stdout, "from-env-cfg\n");
    // ~/.ansible.cfg when the directory has none.
    let sub = dir.join("elsewhere");
    std::fs::create_dir_all(sub.join(".test-home")).unwrap();
    write(
        &sub,
        ".test-home/.ansible.cfg",
        "[defaults]\ninventory = ~/home.ini\n",
    );
    write(&sub, ".test-home/home.ini", "from-home-cfg\n");
    let out = Herd::in_dir(&sub)
        .args(["inventory", "list"])
        .run()
        .success();
    assert_eq!(out.stdout, "from-home-cfg\n");
    // herd.toml is herd's own file: it wins.
    write(&dir, "herd.toml", "inventory = \"toml.ini\"\n");
    write(&dir, "toml.ini", "[toml]\nfrom-toml\n");
    Herd::in_dir(&dir)
        .args(["-v", "inventory", "list"])
        .run()
        .success()
        .stdout_has("from-toml")
        .stderr_has("herd.toml as project file");
}

#[test]
fn localhost_runs_on_this_machine_without_ssh() {
    let fleet = Fleet::builder().hosts(1).start();
    let local_dir = fleet.dir.join("on-controller");
    std::fs::create_dir_all(&local_dir).unwrap();
    let dir = ansible_project(
        &fleet,
        "",
        &format!(
            "[control]\nlocalhost ansible_connection=local root_dir={}\n",
            local_dir.display()
        ),
    );
    write(
        &dir,
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {content: \"{{ inventory_hostname }}\\n\", dest: \"{{ root_dir }}/who\"}\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed: host1,localhost");
    assert_eq!(
        std::fs::read_to_string(local_dir.join("who")).unwrap(),
        "localhost\n"
    );
    assert_eq!(
        std::fs::read_to_string(fleet.hosts[0].root.join("who")).unwrap(),
        "host1\n"
    );

    // The implicit localhost: not in the inventory, still runs here.
    write(&dir, "hosts.ini", "[web]\nhost1 ansible_host=127.0.0.1\n");
    let target = local_dir.join("implicit");
    write(
        &dir,
        "local.yml",
        &format!(
            "- hosts: localhost\n  tasks:\n    - copy: {{content: \"{{{{ inventory_hostname }}}} {{{{ group_names | length }}}} {{{{ ansible_facts.hostname is defined }}}}\\n\", dest: {}}}\n",
            target.display()
        ),
    );
    Herd::in_dir(&dir)
        .args(["play", "local.yml"])
        .run()
        .success()
        .stderr_has("implicit localhost");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "localhost 0 True\n"
    );

    // A connection plugin herd does not have is an error naming the host.
    write(
        &dir,
        "hosts.ini",
        "[box]\ncontainer1 ansible_connection=docker\n",
    );
    write(
        &dir,
        "box.yml",
        "- hosts: box\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "box.yml"])
        .run()
        .code(2)
        .stderr_has("container1")
        .stderr_has("ansible_connection")
        .stderr_has("docker");
}

#[test]
fn ini_group_vars_are_typed_as_ansible_types_them() {
    let fleet = Fleet::builder().hosts(1).start();
    let dir = ansible_project(
        &fleet,
        "",
        "[web:vars]\nretries=30\nflag=true\nenabled=True\nname='30'\nports=[80, 443]\n",
    );
    write(
        &dir,
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ root_dir }}/typed\"\n        content: \"{{ retries + 1 }} {{ flag is string }} {{ enabled is sameas true }} {{ name is string }} {{ ports | sum }}\\n\"\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(fleet.hosts[0].root.join("typed")).unwrap(),
        "31 True True True 523\n"
    );
}

#[test]
fn roles_are_found_where_ansible_looks() {
    let fleet = Fleet::builder().hosts(1).start();
    let dir = ansible_project(&fleet, "roles_path = shared-roles:~/.ansible/roles", "");
    let home = dir.join(".test-home");
    let role = |base: &Path, name: &str| {
        write(
            base,
            &format!("{name}/tasks/main.yml"),
            &format!(
                "- copy: {{content: \"{{{{ ansible_role_name }}}} {{{{ ansible_play_role_names | join(',') }}}} {{{{ ansible_version.full is version('2.9', '>=') }}}} {{{{ ansible_version.major }}}}\\n\", dest: \"{{{{ root_dir }}}}/{name}\"}}\n"
            ),
        );
    };
    role(&dir.join("shared-roles"), "from_cfg");
    role(&home.join(".ansible/roles"), "galaxy_role");
    role(
        &home.join(".ansible/collections/ansible_collections/acme/tools/roles"),
        "motd",
    );
    write(
        &dir,
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  roles:\n    - from_cfg\n    - galaxy_role\n    - acme.tools.motd\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let root = &fleet.hosts[0].root;
    // Magic variables roles test: ansible_version, the role names.
    assert_eq!(
        std::fs::read_to_string(root.join("from_cfg")).unwrap(),
        "from_cfg from_cfg,galaxy_role,acme.tools.motd True 2\n"
    );
    assert!(root.join("galaxy_role").exists());
    assert!(root.join("motd").exists());

    // A missing role names every place looked in.
    write(
        &dir,
        "missing.yml",
        "- hosts: web\n  roles:\n    - nowhere\n    - acme.tools.absent\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "missing.yml"])
        .run()
        .code(2)
        .stderr_has("role `nowhere` not found")
        .stderr_has(&dir.join("roles/nowhere").display().to_string())
        .stderr_has(&dir.join("shared-roles/nowhere").display().to_string())
        .stderr_has(&home.join(".ansible/roles/nowhere").display().to_string());
}

#[test]
fn unsupported_modules_behind_a_dynamic_include_fail_only_the_hosts_that_reach_them() {
    let fleet = Fleet::builder().hosts(2).start();
    let dir = ansible_project(&fleet, "", "[web:vars]\nflavor=Debian\n");
    write(
        &dir,
        "roles/os/tasks/main.yml",
        "- include_tasks: \"setup-{{ flavor }}.yml\"\n- include_tasks: redhat.yml\n  when: inventory_hostname == 'host1'\n- copy: {content: \"went on\\n\", dest: \"{{ root_dir }}/went-on\"}\n",
    );
    write(
        &dir,
        "roles/os/tasks/setup-Debian.yml",
        "- copy: {content: \"debian\\n\", dest: \"{{ root_dir }}/setup\"}\n",
    );
    write(
        &dir,
        "roles/os/tasks/setup-RedHat.yml",
        "- name: install httpd\n  yum: name=httpd\n",
    );
    write(&dir, "roles/os/tasks/redhat.yml", "- dnf: name=httpd\n");
    write(
        &dir,
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  roles: [os]\n",
    );
    let out = Herd::in_dir(&dir)
        .args(["play", "site.yml"])
        .run()
        .code(3)
        // Warned at load: file:line, and the include with its condition.
        .stderr_has("roles/os/tasks/setup-RedHat.yml:2:3: module `yum` is not supported by herd")
        .stderr_has("roles/os/tasks/redhat.yml:1:3: module `dnf` is not supported by herd")
        .stderr_has("when: inventory_hostname == 'host1'")
        // The host that reaches it fails with the same message.
        .stdout_has(
            "failed: host1 => roles/os/tasks/redhat.yml:1:3: module `dnf` is not supported by herd",
        );
    assert!(
        !out.stdout.contains("yum"),
        "no host included setup-RedHat.yml: {}",
        out.stdout
    );
    let (h1, h2) = (&fleet.hosts[0], &fleet.hosts[1]);
    assert!(h1.root.join("setup").exists() && h2.root.join("setup").exists());
    assert!(!h1.root.join("went-on").exists());
    assert_eq!(
        std::fs::read_to_string(h2.root.join("went-on")).unwrap(),
        "went on\n"
    );

    // A static import and the play's own tasks still fail at load.
    write(
        &dir,
        "static.yml",
        "- hosts: web\n  tasks:\n    - import_tasks: roles/os/tasks/redhat.yml\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "static.yml"])
        .run()
        .code(2)
        .stderr_has("redhat.yml:1:3: module `dnf` is not supported by herd");
    write(
        &dir,
        "own.yml",
        "- hosts: web\n  tasks:\n    - yum: name=httpd\n      when: false\n",
    );
    Herd::in_dir(&dir)
        .args(["play", "own.yml"])
        .run()
        .code(2)
        .stderr_has("own.yml:3:7: module `yum` is not supported by herd");
}

#[test]
fn without_any_inventory_a_localhost_play_runs_on_the_implicit_localhost() {
    let (_t, dir) = scratch();
    let target = dir.join("made-here");
    write(
        &dir,
        "local.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"{{{{ inventory_hostname }}}}\\n\", dest: {}}}\n",
            target.display()
        ),
    );
    Herd::in_dir(&dir)
        .args(["play", "local.yml"])
        .run()
        .success()
        .stderr_has("only the implicit localhost is available");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "localhost\n");
}
