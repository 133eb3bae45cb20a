//! `herd secrets` end to end: a secret from an encrypted group_vars file
//! reaches the hosts but never herd's output or store; files interoperate
//! with the `age` CLI; rekey shuts out a removed recipient; clear errors.

use crate::fleet;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fleet::Fleet;
use support::Herd;

const SECRET: &str = "Sup3r-S3cret-Pa55word";
const HOST_SECRET: &str = "host1-api-key-XYZ";
const PLAY_SECRET: &str = "vars-files-token-123";
const MASK: &str = "********";

/// No secret in what herd printed.
fn assert_masked(out: &support::Outcome) {
    for secret in [SECRET, HOST_SECRET, PLAY_SECRET] {
        assert!(
            !out.stdout.contains(secret),
            "{secret} in stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(secret),
            "{secret} in stderr:\n{}",
            out.stderr
        );
    }
}

/// The identity `herd secrets init` creates under the test HOME.
fn identity(dir: &Path) -> PathBuf {
    dir.join(".test-home/.config/herd/identity.txt")
}

fn age(args: &[&str]) -> std::process::Output {
    Command::new("age")
        .args(args)
        .output()
        .expect("age CLI (scripts/ensure-deps.sh)")
}

/// `age-keygen -o path`; returns the public key.
fn keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen");
    assert!(out.status.success());
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string()
}

#[test]
fn secret_vars_reach_the_host_but_output_and_store_only_show_the_mask() {
    let fleet = Fleet::builder().hosts(2).start();
    let dir = &fleet.dir;
    Herd::in_dir(dir).args(["secrets", "init"]).run().success();
    let vars = dir.join("group_vars/all");
    std::fs::create_dir_all(&vars).unwrap();
    std::fs::write(
        vars.join("secrets.yml"),
        format!("db_password: \"{SECRET}\"\nshort: ab\n"),
    )
    .unwrap();
    Herd::in_dir(dir)
        .args(["secrets", "encrypt", "group_vars/all/secrets.yml", "--rm"])
        .run()
        .success();
    assert!(!vars.join("secrets.yml").exists(), "plaintext removed");
    let encrypted = std::fs::read_to_string(vars.join("secrets.yml.age")).unwrap();
    assert!(encrypted.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!encrypted.contains(SECRET));

    // A host_vars file and a play's vars_files, encrypted too.
    std::fs::create_dir_all(dir.join("host_vars")).unwrap();
    std::fs::write(
        dir.join("host_vars/host1.yml"),
        format!("api_key: {HOST_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("vault.yml"), format!("token: [{PLAY_SECRET}]\n")).unwrap();
    for file in ["host_vars/host1.yml", "vault.yml"] {
        Herd::in_dir(dir)
            .args(["secrets", "encrypt", "--rm", file])
            .run()
            .success();
    }

    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/app.conf.j2"),
        "user = app\npassword = {{ db_password }}\nkey = {{ api_key | default('none') }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("site.yml"),
        "- hosts: all\n  vars_files: [vault.yml.age]\n  tasks:\n\
         \x20   - name: config with the password\n      template:\n        src: app.conf.j2\n        dest: \"{{ root_dir }}/app.conf\"\n\
         \x20   - name: say it\n      debug:\n        msg: \"password is {{ db_password }}, token {{ token[0] }}\"\n\
         \x20   - name: echo it\n      command: echo {{ db_password }}\n      changed_when: false\n",
    )
    .unwrap();

    let text = Herd::in_dir(dir)
        .args(["play", "site.yml", "--diff", "-v"])
        .run()
        .success();
    for (host, key) in fleet.hosts.iter().zip([HOST_SECRET, "none"]) {
        let conf = std::fs::read_to_string(host.root.join("app.conf")).unwrap();
        assert_eq!(
            conf,
            format!("user = app\npassword = {SECRET}\nkey = {key}\n")
        );
    }
    assert_masked(&text);
    assert!(
        text.stdout.contains(&format!("+key = {MASK}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("+password = {MASK}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("password is {MASK}, token {MASK}")),
        "{}",
        text.stdout
    );

    // Again, as JSON, with the files gone so the diff shows once more.
    for host in &fleet.hosts {
        std::fs::remove_file(host.root.join("app.conf")).unwrap();
    }
    let json = Herd::in_dir(dir)
        .args(["play", "site.yml", "--diff", "--format", "json"])
        .run()
        .success();
    assert_masked(&json);
    assert!(json.stdout.contains(MASK), "{}", json.stdout);

    // `herd run` output (folded and JSON) and the inventory view.
    let conf = fleet.hosts[0].root.join("app.conf");
    for format in ["text", "json"] {
        let run = Herd::in_dir(dir)
            .args(["run", "host1", "--format", format, "--", "cat"])
            .args([&conf])
            .run()
            .success();
        assert_masked(&run);
        assert!(
            run.stdout.contains(&format!("password = {MASK}")),
            "{}",
            run.stdout
        );
    }
    let inv = Herd::in_dir(dir)
        .args(["inventory", "show", "host1"])
        .run()
        .success();
    assert_masked(&inv);
    json.json_lines();

    let runs = Herd::in_dir(dir)
        .args(["runs", "show", "last", "--format", "json"])
        .run()
        .success();
    assert_masked(&runs);
    assert!(runs.stdout.contains(MASK), "{}", runs.stdout);
    // The database files themselves (main file and write-ahead log).
    for entry in std::fs::read_dir(dir.join(".herd")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("herd.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            for secret in [SECRET, HOST_SECRET, PLAY_SECRET] {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{} holds {secret}", path.display());
            }
        }
    }
}

#[test]
fn files_interoperate_with_the_age_cli() {
    let (_tmp, dir) = support::scratch();
    std::fs::write(dir.join("herd.toml"), "").unwrap();
    Herd::in_dir(&dir).args(["secrets", "init"]).run().success();
    let id = identity(&dir);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&id).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // herd -> age
    std::fs::write(dir.join("a.yml"), "token: herd-made-token\n").unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "encrypt", "a.yml"])
        .run()
        .success();
    Herd::in_dir(&dir)
        .args(["secrets", "encrypt", "a.yml"])
        .run()
        .code(2)
        .stderr_has("--force");
    let out = age(&[
        "-d",
        "-i",
        id.to_str().unwrap(),
        dir.join("a.yml.age").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"token: herd-made-token\n");

    // age -> herd (armored and binary)
    let public = Herd::in_dir(&dir)
        .args(["secrets", "init"])
        .run()
        .success()
        .stdout;
    let key = public.split(['(', ')']).nth(1).unwrap().to_string();
    std::fs::write(dir.join("b.txt"), "from the age CLI\n").unwrap();
    for (flags, name) in [(vec!["-a"], "b.armored.age"), (vec![], "b.binary.age")] {
        let mut args = vec!["-r", key.as_str(), "-o", name];
        args.extend(flags);
        args.push("b.txt");
        let status = Command::new("age")
            .args(&args)
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        Herd::in_dir(&dir)
            .args(["secrets", "decrypt", name])
            .run()
            .success()
            .stdout_has("from the age CLI");
    }

    // decrypt -o writes a private file.
    Herd::in_dir(&dir)
        .args(["secrets", "decrypt", "a.yml.age", "-o", "out.yml"])
        .run()
        .success();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("out.yml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn rekey_shuts_out_a_removed_recipient_and_errors_are_clear() {
    let (_tmp, dir) = support::scratch();
    std::fs::write(dir.join("herd.toml"), "").unwrap();
    Herd::in_dir(&dir).args(["secrets", "init"]).run().success();
    let other = dir.join("other.txt");
    let other_key = keygen(&other);
    Herd::in_dir(&dir)
        .args(["secrets", "add-recipient", &other_key])
        .run()
        .success();
    Herd::in_dir(&dir)
        .args(["secrets", "add-recipient", "ssh-ed25519 AAAAC3Nza"])
        .run()
        .code(2)
        .stderr_has("not an age public key");
    std::fs::create_dir_all(dir.join("vars")).unwrap();
    std::fs::write(dir.join("vars/s.yml"), "k: shared-secret\n").unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "encrypt", "vars/s.yml"])
        .run()
        .success();
    let file = dir.join("vars/s.yml.age");
    let by_other = || age(&["-d", "-i", other.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(by_other().status.success());

    Herd::in_dir(&dir)
        .args(["secrets", "remove-recipient", &other_key])
        .run()
        .success();
    Herd::in_dir(&dir)
        .args(["secrets", "rekey"])
        .run()
        .success()
        .stdout_has("1 files rekeyed");
    assert!(!by_other().status.success(), "removed key still decrypts");
    Herd::in_dir(&dir)
        .args(["secrets", "view", "vars/s.yml.age"])
        .run()
        .success()
        .stdout_has("shared-secret");

    // The removed key gets a clear error naming the file and the keys.
    let my_key = std::fs::read_to_string(dir.join(".herd-recipients")).unwrap();
    let my_key = my_key
        .lines()
        .find(|l| l.starts_with("age1"))
        .unwrap()
        .to_string();
    let err = Herd::in_dir(&dir)
        .args([
            "--identity",
            "other.txt",
            "secrets",
            "decrypt",
            "vars/s.yml.age",
        ])
        .run()
        .code(2);
    assert!(err.stdout.is_empty());
    assert!(!err.stderr.contains("grease"), "{}", err.stderr);
    for text in ["vars/s.yml.age", "1 X25519 recipient", &other_key, &my_key] {
        assert!(err.stderr.contains(text), "{text}: {}", err.stderr);
    }

    // Truncated file.
    let data = std::fs::read_to_string(&file).unwrap();
    std::fs::write(dir.join("cut.age"), &data[..data.len() / 2]).unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "decrypt", "cut.age"])
        .run()
        .code(2)
        .stderr_has("corrupted or truncated");

    // Passphrase files.
    std::fs::write(dir.join("p.txt"), "by passphrase\n").unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "encrypt", "--passphrase", "p.txt"])
        .env("HERD_PASSPHRASE", "correct horse")
        .run()
        .success();
    Herd::in_dir(&dir)
        .args(["secrets", "decrypt", "p.txt.age"])
        .env("HERD_PASSPHRASE", "correct horse")
        .run()
        .success()
        .stdout_has("by passphrase");
    Herd::in_dir(&dir)
        .args(["secrets", "decrypt", "p.txt.age"])
        .env("HERD_PASSPHRASE", "wrong")
        .run()
        .code(2)
        .stderr_has("wrong passphrase");
}

#[test]
fn edit_reencrypts_changes_and_leaves_no_plaintext() {
    let (_tmp, dir) = support::scratch();
    std::fs::write(dir.join("herd.toml"), "").unwrap();
    Herd::in_dir(&dir).args(["secrets", "init"]).run().success();
    let editor = dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\necho \"$1\" > \"$(dirname \"$0\")/edited-path\"\necho 'added: line' >> \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "edit", "new.yml.age"])
        .env("EDITOR", &editor)
        .run()
        .success();
    let scratch = std::fs::read_to_string(dir.join("edited-path")).unwrap();
    assert!(
        !Path::new(scratch.trim()).exists(),
        "plaintext left at {scratch}"
    );
    assert!(!Path::new(scratch.trim()).parent().unwrap().exists());
    Herd::in_dir(&dir)
        .args(["secrets", "view", "new.yml.age"])
        .run()
        .success()
        .stdout_has("added: line");
    // An editor that changes nothing leaves the file alone.
    let before = std::fs::read(dir.join("new.yml.age")).unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "edit", "new.yml.age"])
        .env("EDITOR", "true")
        .run()
        .success()
        .stderr_has("unchanged");
    assert_eq!(before, std::fs::read(dir.join("new.yml.age")).unwrap());

    // Ctrl-C while editing (SIGINT to herd, as a terminal would send it):
    // herd outlives it, then wipes the plaintext; a failed editor changes nothing.
    std::fs::write(
        &editor,
        "#!/bin/sh\necho \"$1\" > \"$(dirname \"$0\")/edited-path\"\n\
         for p in $PPID $(ps -o ppid= -p $PPID); do\n\
         \x20 [ \"$(ps -o comm= -p $p)\" = herd ] && kill -INT $p\n\
         done\nsleep 0.2\necho 'more: x' >> \"$1\"\nexit 130\n",
    )
    .unwrap();
    Herd::in_dir(&dir)
        .args(["secrets", "edit", "new.yml.age"])
        .env("EDITOR", &editor)
        .run()
        .code(1)
        .stderr_has("left unchanged");
    let scratch = std::fs::read_to_string(dir.join("edited-path")).unwrap();
    assert!(
        !Path::new(scratch.trim()).parent().unwrap().exists(),
        "{scratch}"
    );
    assert_eq!(before, std::fs::read(dir.join("new.yml.age")).unwrap());
}

/// Issue 13, finding 7: a number is a secret too, and a secret stays masked
/// in the forms herd's own filters and JSON output give it.
#[test]
fn numbers_and_escaped_forms_of_secrets_are_masked() {
    use base64::Engine;
    const PIN: &str = "73519246";
    const QUOTED: &str = "it's-a-\"Secret\"-x";
    const UNICODE: &str = "pässwört-geheim";
    let fleet = Fleet::builder().hosts(1).start();
    let dir = &fleet.dir;
    Herd::in_dir(dir).args(["secrets", "init"]).run().success();
    std::fs::create_dir_all(dir.join("group_vars/all")).unwrap();
    std::fs::write(
        dir.join("group_vars/all/secrets.yml"),
        format!(
            "pin: {PIN}\nquoted_pw: '{}'\nunicode_pw: {UNICODE}\n",
            QUOTED.replace('\'', "''")
        ),
    )
    .unwrap();
    Herd::in_dir(dir)
        .args(["secrets", "encrypt", "--rm", "group_vars/all/secrets.yml"])
        .run()
        .success();
    std::fs::write(dir.join("pin.j2"), "pin = {{ pin }}\n").unwrap();
    std::fs::write(
        dir.join("site.yml"),
        "- hosts: all\n  tasks:\n\
         \x20   - debug:\n        msg: \"pin {{ pin }} {{ pin + 1 - 1 }}\"\n\
         \x20   - debug:\n        msg: \"quoted {{ quoted_pw | quote }}\"\n\
         \x20   - debug:\n        msg: \"json {{ quoted_pw | to_json }} {{ unicode_pw | to_json }} {{ [pin] | to_json }}\"\n\
         \x20   - debug:\n        msg: \"b64 {{ quoted_pw | b64encode }} {{ unicode_pw | b64encode }}\"\n\
         \x20   - template:\n        src: pin.j2\n        dest: \"{{ root_dir }}/pin.conf\"\n",
    )
    .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let leaks = [
        PIN.to_string(),
        "a-\"Secret".to_string(),
        "a-\\\"Secret".to_string(),
        "geheim".to_string(),
        b64(QUOTED),
        b64(UNICODE),
    ];
    // Every leak is listed, not only the first.
    let mut found: Vec<String> = Vec::new();
    let leaks_in = |what: &str, text: &str| -> Vec<String> {
        leaks
            .iter()
            .filter(|leak| text.contains(leak.as_str()))
            .map(|leak| format!("{what} shows {leak}"))
            .collect()
    };
    for format in ["text", "json"] {
        let out = Herd::in_dir(dir)
            .args(["play", "site.yml", "--diff", "-v", "--format", format])
            .run()
            .success();
        found.extend(leaks_in(format, &out.stdout));
        found.extend(leaks_in(format, &out.stderr));
        let masks = out.stdout.matches(MASK).count();
        assert!(masks >= 8 || !found.is_empty(), "{}", out.stdout);
        std::fs::remove_file(fleet.hosts[0].root.join("pin.conf")).unwrap();
    }
    let inv = Herd::in_dir(dir)
        .args(["inventory", "show", "host1"])
        .run()
        .success();
    found.extend(leaks_in("inventory show", &inv.stdout));
    let runs = Herd::in_dir(dir)
        .args(["runs", "show", "last", "--format", "json"])
        .run()
        .success();
    found.extend(leaks_in("runs show", &runs.stdout));
    for entry in std::fs::read_dir(dir.join(".herd")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("herd.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            found.extend(leaks_in("the store", &String::from_utf8_lossy(&bytes)));
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// Issue 13, finding 7: the `-K` become password is masked like a vault
/// secret. A hostile host's `sudo` (here first on the play's PATH) reads it
/// and prints it back; herd's output must show the mask.
#[test]
fn the_become_password_is_masked_in_output() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};

    const PASSWORD: &str = "Become-Pa55-7781";
    let fleet = Fleet::builder().hosts(1).start();
    let dir = &fleet.dir;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("sudo"),
        "#!/bin/sh\n\
         while [ $# -gt 0 ] && [ \"$1\" != -p ]; do shift; done\n\
         printf '%s' \"$2\" >&2\n\
         IFS= read -r pw\n\
         while [ $# -gt 0 ] && [ \"$1\" != -- ]; do shift; done\n\
         shift\n\
         \"$@\"\n\
         echo \"the become password is $pw\"\n",
    )
    .unwrap();
    std::fs::set_permissions(bin.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("site.yml"),
        format!(
            "- hosts: all\n  become: true\n  environment:\n    PATH: \"{}:/usr/bin:/bin\"\n  tasks:\n\
             \x20   - command: \"true\"\n      register: out\n\
             \x20   - debug:\n        msg: \"{{{{ out.stdout }}}}\"\n",
            bin.display()
        ),
    )
    .unwrap();

    // -K reads the terminal: run herd under `script`, which gives it one,
    // and type the password once the prompt is up (echo is off by then).
    let herd = env!("CARGO_BIN_EXE_herd");
    let home = dir.join(".test-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = Command::new("script")
        .args(["-qec", &format!("{herd} play site.yml -K -v"), "/dev/null"])
        .current_dir(dir)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("BECOME password:") {
        assert!(std::time::Instant::now() < deadline, "no password prompt");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let out = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(status.success(), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
    assert!(
        out.contains(&format!("the become password is {MASK}")),
        "{out}"
    );
}
