//! The modules that configure a Debian system's files and settings
//! (ini_file, pam_limits, timezone, locale_gen), each on an isolated host
//! of its own so /etc changes never reach the machine: check mode changes
//! nothing, a run changes what it says, a second run changes nothing,
//! `--diff` shows the change and bad input is a clear failure.
//!
//! Isolated hosts need root (CI runs as root).

use crate::fleet;
use crate::support;

use fleet::Fleet;
use support::{Herd, Outcome};

/// `herd play ARGS...` in the fleet's directory.
fn play(fleet: &Fleet, args: &[&str]) -> Outcome {
    Herd::in_dir(&fleet.dir).args(["play"]).args(args).run()
}

fn read(path: impl AsRef<std::path::Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

fn text(path: impl AsRef<std::path::Path>) -> String {
    String::from_utf8_lossy(&read(path)).into_owned()
}

/// A playbook for all hosts, without facts.
fn playbook(tasks: &str) -> String {
    format!("- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

const INI_TASKS: &str = r#"
    - community.general.ini_file:
        path: /etc/herd/app.ini
        section: server
        option: port
        value: "{{ port | default('8080') }}"
        mode: "0600"
        backup: true
      register: port_result
    - ini_file:
        path: /etc/herd/conf.d/global.ini
        section: null
        option: user
        value: bob
        no_extra_spaces: true
      register: created
    - ini_file:
        dest: /etc/herd/app.ini
        section: drinks
        option: fav
        values: [coke, pepsi]
    - ini_file:
        path: /etc/herd/app.ini
        section: legacy
        state: absent
    - assert:
        that:
          - port_result.path == '/etc/herd/app.ini'
          - port_result.msg == ('option changed' if port_result is changed else 'OK')
          - created.msg == ('option added' if created is changed else 'OK')
          - ansible_check_mode or port_result.mode == '0600'
"#;

#[test]
fn ini_file_sets_options_byte_exactly_and_then_changes_nothing() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    std::fs::create_dir_all(host.fs_path("/etc/herd")).unwrap();
    // A Latin-1 byte in a line the module does not touch stays as it is.
    let before: &[u8] = b"; app config\n[server]\nhost = 0.0.0.0\n# port = 80\n\n\
        [legacy]\nold = yes\n\n[drinks]\nfav = water\nnote = caf\xe9\n";
    std::fs::write(host.fs_path("/etc/herd/app.ini"), before).unwrap();
    std::fs::write(fleet.path("site.yml"), playbook(INI_TASKS)).unwrap();

    play(&fleet, &["site.yml", "--check"])
        .success()
        .stdout_has("changed=4");
    assert_eq!(read(host.fs_path("/etc/herd/app.ini")), before);
    assert!(!host.fs_path("/etc/herd/conf.d").exists());

    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=4");
    let after: &[u8] = b"; app config\n[server]\nhost = 0.0.0.0\nport = 8080\n\n\
        [drinks]\nfav = coke\nnote = caf\xe9\nfav = pepsi\n";
    assert_eq!(read(host.fs_path("/etc/herd/app.ini")), after);
    assert_eq!(
        text(host.fs_path("/etc/herd/conf.d/global.ini")),
        "user=bob\n\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(host.fs_path("/etc/herd/app.ini"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // backup: the file as it was, beside it.
    let backups: Vec<_> = std::fs::read_dir(host.fs_path("/etc/herd"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("app.ini."))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(read(backups[0].path()), before);

    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");

    // --diff shows the line that would change.
    play(
        &fleet,
        &["site.yml", "--check", "--diff", "-e", "port=9090"],
    )
    .success()
    .stdout_has("changed=1")
    .stdout_has("-port = 8080")
    .stdout_has("+port = 9090");
    assert_eq!(read(host.fs_path("/etc/herd/app.ini")), after);

    // follow: the file a link points to is edited; the link stays.
    std::fs::write(host.fs_path("/etc/herd/real.ini"), "[a]\n").unwrap();
    std::os::unix::fs::symlink("real.ini", host.fs_path("/etc/herd/link.ini")).unwrap();
    std::fs::write(
        fleet.path("follow.yml"),
        playbook("    - ini_file: {path: /etc/herd/link.ini, section: a, option: x, value: 1, follow: true}\n"),
    )
    .unwrap();
    play(&fleet, &["follow.yml"])
        .success()
        .stdout_has("changed=1");
    assert_eq!(text(host.fs_path("/etc/herd/real.ini")), "[a]\nx = 1\n");
    assert!(
        std::fs::symlink_metadata(host.fs_path("/etc/herd/link.ini"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    play(&fleet, &["follow.yml"])
        .success()
        .stdout_has("changed=0");

    // Bad input: Ansible's failures.
    std::fs::write(
        fleet.path("bad.yml"),
        playbook(
            r#"
    - ini_file: {path: /etc/herd/missing.ini, section: a, option: b, value: c, create: false}
      register: missing
      ignore_errors: true
    - ini_file: {path: /etc/herd/app.ini, section: a, option: b}
      register: no_value
      ignore_errors: true
    - assert:
        that:
          - missing is failed
          - missing.msg == 'Destination /etc/herd/missing.ini does not exist!'
          - no_value is failed
          - "'value(s)' in no_value.msg"
"#,
        ),
    )
    .unwrap();
    play(&fleet, &["bad.yml"]).success().stdout_has("failed=0");
    assert!(!host.fs_path("/etc/herd/missing.ini").exists());
}

#[test]
fn pam_limits_appends_or_raises_a_limit_and_then_changes_nothing() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    let dest = "/etc/security/limits.d/90-herd.conf";
    let before = "# herd test limits\n@web   hard   nproc   50   # workers\n";
    std::fs::write(host.fs_path(dest), before).unwrap();
    let machine_limits = read("/etc/security/limits.conf");
    std::fs::write(
        fleet.path("site.yml"),
        playbook(&format!(
            r#"
    - community.general.pam_limits:
        dest: {dest}
        domain: joe
        limit_type: soft
        limit_item: nofile
        value: "{{{{ nofile | default(64000) }}}}"
      register: joe
    - pam_limits:
        dest: {dest}
        domain: "@web"
        limit_type: hard
        limit_item: nproc
        value: 100
        use_max: true
    - assert:
        that:
          - joe.msg == 'joe\tsoft\tnofile\t' ~ (nofile | default(64000)) ~ '\n'
"#
        )),
    )
    .unwrap();

    play(&fleet, &["site.yml", "--check"])
        .success()
        .stdout_has("changed=2");
    assert_eq!(text(host.fs_path(dest)), before);

    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=2");
    assert_eq!(
        text(host.fs_path(dest)),
        "# herd test limits\n@web\thard\tnproc\t100\t# workers\njoe\tsoft\tnofile\t64000\n"
    );
    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");

    play(
        &fleet,
        &["site.yml", "--check", "--diff", "-e", "nofile=1024"],
    )
    .success()
    .stdout_has("changed=1")
    .stdout_has("+joe\tsoft\tnofile\t1024");

    // A value limits.conf(5) does not take fails before anything changes.
    std::fs::write(
        fleet.path("bad.yml"),
        playbook(&format!(
            "    - pam_limits: {{dest: {dest}, domain: joe, limit_type: soft, limit_item: nofile, value: lots}}\n"
        )),
    )
    .unwrap();
    play(&fleet, &["bad.yml"])
        .code(3)
        .stdout_has("Value of \"lots\" for item \"nofile\" is invalid");
    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");
    assert_eq!(read("/etc/security/limits.conf"), machine_limits);
}

#[test]
fn timezone_links_localtime_and_writes_etc_timezone() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    let machine_zone = read("/etc/timezone");
    // The host starts in UTC, whatever the machine's zone.
    std::fs::write(host.fs_path("/etc/timezone"), "Etc/UTC\n").unwrap();
    host.sh("ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime");
    std::fs::write(
        fleet.path("site.yml"),
        playbook(
            r#"
    - community.general.timezone:
        name: "{{ zone | default('Asia/Tokyo') }}"
        hwclock: UTC
      register: tz
    - assert:
        that:
          - tz.diff.after.name == (zone | default('Asia/Tokyo'))
          - tz.diff.before.hwclock == 'UTC'
"#,
        ),
    )
    .unwrap();

    play(&fleet, &["site.yml", "--check"])
        .success()
        .stdout_has("changed=1");
    assert_eq!(text(host.fs_path("/etc/timezone")), "Etc/UTC\n");

    play(&fleet, &["site.yml", "--diff"])
        .success()
        .stdout_has("changed=1")
        .stdout_has("-name: Etc/UTC")
        .stdout_has("+name: Asia/Tokyo");
    assert_eq!(text(host.fs_path("/etc/timezone")), "Asia/Tokyo\n");
    assert_eq!(
        std::fs::read_link(host.fs_path("/etc/localtime")).unwrap(),
        std::path::Path::new("/usr/share/zoneinfo/Asia/Tokyo")
    );
    let date = host.sh("date +%Z");
    assert_eq!(String::from_utf8_lossy(&date.stdout), "JST\n");

    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");

    // Only the link points elsewhere: that is a change too.
    host.sh("ln -sf /usr/share/zoneinfo/Europe/Paris /etc/localtime");
    play(&fleet, &["site.yml", "--check", "--diff"])
        .success()
        .stdout_has("changed=1")
        .stdout_has("-name: Europe/Paris");
    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=1");
    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");

    // A zone the host does not have fails and changes nothing.
    play(&fleet, &["site.yml", "-e", "zone=Mars/Olympus_Mons"])
        .code(3)
        .stdout_has("Mars/Olympus_Mons")
        .stdout_has("is not available");
    assert_eq!(text(host.fs_path("/etc/timezone")), "Asia/Tokyo\n");
    assert_eq!(read("/etc/timezone"), machine_zone);
}

#[test]
fn locale_gen_builds_and_removes_a_locale() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    let locales =
        |h: &fleet::FleetHost| String::from_utf8_lossy(&h.sh("locale -a").stdout).into_owned();
    assert!(
        !locales(host).contains("de_CH.utf8"),
        "the test machine must not have de_CH.UTF-8 built for this test"
    );
    let machine_gen = read("/etc/locale.gen");
    std::fs::write(
        fleet.path("site.yml"),
        playbook(
            r#"
    - community.general.locale_gen:
        name: de_CH.UTF-8
        state: "{{ state | default('present') }}"
      register: loc
    - assert:
        that:
          - loc.name == ['de_CH.UTF-8']
          - loc.mechanism == 'glibc'
"#,
        ),
    )
    .unwrap();

    play(&fleet, &["site.yml", "--check"])
        .success()
        .stdout_has("changed=1");
    assert_eq!(read(host.fs_path("/etc/locale.gen")), machine_gen);

    play(&fleet, &["site.yml", "--diff"])
        .success()
        .stdout_has("changed=1")
        .stdout_has("+de_CH.UTF-8 UTF-8");
    assert!(locales(host).contains("de_CH.utf8\n"), "{}", locales(host));
    assert!(text(host.fs_path("/etc/locale.gen")).contains("\nde_CH.UTF-8 UTF-8\n"));
    play(&fleet, &["site.yml"])
        .success()
        .stdout_has("changed=0");

    play(&fleet, &["site.yml", "-e", "state=absent"])
        .success()
        .stdout_has("changed=1");
    assert!(!locales(host).contains("de_CH"), "{}", locales(host));
    assert!(text(host.fs_path("/etc/locale.gen")).contains("\n# de_CH.UTF-8 UTF-8\n"));
    play(&fleet, &["site.yml", "-e", "state=absent"])
        .success()
        .stdout_has("changed=0");

    // A locale glibc does not know fails before anything changes.
    std::fs::write(
        fleet.path("bad.yml"),
        playbook("    - locale_gen: {name: [de_CH.UTF-8, xx_YY.UTF-8]}\n"),
    )
    .unwrap();
    play(&fleet, &["bad.yml"]).code(3).stdout_has(
        "The following locales you have entered are not available on your system: xx_YY.UTF-8",
    );
    assert!(!locales(host).contains("de_CH"));
    assert_eq!(read("/etc/locale.gen"), machine_gen);
}
