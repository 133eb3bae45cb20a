//! `herd audit`: security checks on a host, gathered by one shell script in
//! one round trip and judged on the controller.
//!
//! - `ssh-password-auth`, `ssh-root-login`: the effective settings of the
//!   sshd that serves this very session. The script walks up from its shell
//!   (`/proc/PID/stat`) to the listening sshd, takes that process's `-f`
//!   and `-o` options from its command line and runs `sshd -T` with them;
//!   where `sshd -T` is not allowed (no root: host keys unreadable) the
//!   config file is parsed instead (first value wins, `-o` before the file,
//!   `Match` blocks and `Include` not followed).
//! - `world-writable`: files, and directories without the sticky bit, that
//!   anyone may write, under the given paths (`find -perm -0002`).
//! - `reboot`: `/var/run/reboot-required` (Debian) or `needs-restarting -r`
//!   (RHEL).
//! - `ports`: listening TCP ports (`/proc/net/tcp`, `/proc/net/tcp6`)
//!   against an allow-list.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ssh::shell_quote;

/// How a check came out. Only `fail` makes `herd audit` exit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Measured, not judged (e.g. ports without an allow-list).
    Info,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Finding {
    fn new(check: &'static str, status: Status, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            status,
            detail: detail.into(),
        }
    }
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Directories searched for world-writable files.
    pub paths: Vec<String>,
    /// Listening ports allowed; `None`: ports are listed, not judged.
    pub allow_ports: Option<BTreeSet<u16>>,
}

/// Most world-writable paths reported per searched directory.
const WORLD_WRITABLE_LIMIT: usize = 200;

/// How many paths a finding names before it says "and N more".
const SHOWN_PATHS: usize = 10;

/// The first [`SHOWN_PATHS`] of `paths`, and how many more there are, so a
/// table row stays readable.
fn shown_list(paths: &[String]) -> String {
    let mut text = paths[..paths.len().min(SHOWN_PATHS)].join(", ");
    if paths.len() > SHOWN_PATHS {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN_PATHS));
    }
    text
}

/// The script that gathers everything, in sections headed `@@NAME`.
pub fn script(options: &Options) -> String {
    let paths: Vec<String> = options.paths.iter().map(|p| shell_quote(p)).collect();
    format!(
        r#"set -f
echo '@@sshd'
p=$$; listener=
while [ "${{p:-0}}" -gt 1 ] && [ -r /proc/$p/stat ]; do
  case "$(cat /proc/$p/comm 2>/dev/null)" in
    sshd*) listener=$p ;;
    *) [ -n "$listener" ] && break ;;
  esac
  p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
done
cmd=
[ -n "$listener" ] && cmd=$(tr '\0' ' ' < /proc/$listener/cmdline | sed 's/^sshd: //; s/ *\[listener\].*//')
echo "cmdline $cmd"
set -- $cmd
bin=${{1:-}}
[ $# -gt 0 ] && shift
case "$bin" in /*) ;; *) bin=$(command -v sshd || echo /usr/sbin/sshd) ;; esac
cfg=/etc/ssh/sshd_config
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n-1))
  case "$a" in
    -f) [ "$n" -gt 0 ] && {{ cfg=$1; shift; n=$((n-1)); }} ;;
    -f?*) cfg=${{a#-f}} ;;
    -o|-h|-c) [ "$n" -gt 0 ] && {{ set -- "$@" "$a" "$1"; shift; n=$((n-1)); }} ;;
    -o?*|-h?*|-c?*) set -- "$@" "$a" ;;
    -[CEgkpu]) [ "$n" -gt 0 ] && {{ shift; n=$((n-1)); }} ;;
  esac
done
echo "config $cfg"
for a in "$@"; do echo "arg $a"; done
if out=$("$bin" -T -f "$cfg" "$@" 2>&1); then
  echo '@@sshd-T'; printf '%s\n' "$out"
else
  echo '@@sshd-T-failed'; printf '%s\n' "$out" | head -n 3
  echo '@@sshd-config'; cat -- "$cfg" 2>/dev/null
fi
echo '@@world-writable'
for d in {paths}; do
  if [ -e "$d" ]; then
    echo "@path $d"
    find "$d" -xdev \( -type f -o -type d \) -perm -0002 ! \( -type d -perm -1000 \) -print 2>/dev/null | head -n {limit}
  else echo "@missing $d"; fi
done
echo '@@reboot'
if [ -e /var/run/reboot-required ]; then
  echo required; head -n 20 /var/run/reboot-required.pkgs 2>/dev/null
elif command -v needs-restarting >/dev/null 2>&1; then
  needs-restarting -r >/dev/null 2>&1; echo "needs-restarting $?"
else echo none; fi
echo '@@tcp'
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
echo '@@end'
"#,
        paths = paths.join(" "),
        limit = WORLD_WRITABLE_LIMIT + 1,
    )
}

/// The script's output, split into its sections.
struct Sections<'a> {
    sections: Vec<(&'a str, Vec<&'a str>)>,
}

impl<'a> Sections<'a> {
    fn parse(output: &'a str) -> Sections<'a> {
        let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
        for line in output.lines() {
            match line.strip_prefix("@@") {
                Some(name) => sections.push((name, Vec::new())),
                None => {
                    if let Some((_, lines)) = sections.last_mut() {
                        lines.push(line);
                    }
                }
            }
        }
        Sections { sections }
    }

    fn get(&self, name: &str) -> Option<&[&'a str]> {
        self.sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, lines)| lines.as_slice())
    }
}

/// Judges the script's output. A section missing from it (the script was
/// cut short) is a `fail` of that check, never a silent pass.
pub fn evaluate(output: &str, options: &Options) -> Vec<Finding> {
    let sections = Sections::parse(output);
    let mut findings = sshd_findings(&sections);
    findings.push(world_writable(&sections, options));
    findings.push(reboot(&sections));
    findings.push(ports(&sections, options));
    findings
}

fn incomplete(check: &'static str) -> Finding {
    Finding::new(
        check,
        Status::Fail,
        "no result: the audit script stopped early (run with -vv to see its output)",
    )
}

/// The sshd settings that matter, with where they came from.
fn sshd_findings(sections: &Sections) -> Vec<Finding> {
    let Some(head) = sections.get("sshd") else {
        return vec![
            incomplete("ssh-password-auth"),
            incomplete("ssh-root-login"),
        ];
    };
    let config = head
        .iter()
        .find_map(|l| l.strip_prefix("config "))
        .unwrap_or("/etc/ssh/sshd_config");
    let (settings, source) = match (sections.get("sshd-T"), sections.get("sshd-config")) {
        (Some(lines), _) => (effective_from_dump(lines), format!("sshd -T -f {config}")),
        (None, Some(lines)) => {
            let why = sections
                .get("sshd-T-failed")
                .and_then(|l| l.first().copied())
                .unwrap_or("")
                .trim();
            let args: Vec<&str> = head.iter().filter_map(|l| l.strip_prefix("arg ")).collect();
            (
                effective_from_config(&args, lines),
                format!("parsed {config}; sshd -T failed: {why}"),
            )
        }
        (None, None) => {
            return vec![
                incomplete("ssh-password-auth"),
                incomplete("ssh-root-login"),
            ];
        }
    };
    let password = settings.password.as_deref().unwrap_or("yes");
    let root = settings.root.as_deref().unwrap_or("prohibit-password");
    let password_status = if password == "no" {
        Status::Pass
    } else {
        Status::Fail
    };
    let root_status = match root {
        "no" | "prohibit-password" | "without-password" | "forced-commands-only" => Status::Pass,
        _ => Status::Fail,
    };
    vec![
        Finding::new(
            "ssh-password-auth",
            password_status,
            format!("PasswordAuthentication {password} ({source})"),
        ),
        Finding::new(
            "ssh-root-login",
            root_status,
            format!("PermitRootLogin {root} ({source})"),
        ),
    ]
}

#[derive(Debug, Default, PartialEq, Eq)]
struct SshdSettings {
    password: Option<String>,
    root: Option<String>,
}

impl SshdSettings {
    /// Takes `key value` if it is one we want and has no value yet (sshd
    /// keeps the first value it reads).
    fn offer(&mut self, key: &str, value: &str) {
        let value = value.trim().trim_matches('"').to_ascii_lowercase();
        let slot = match key.to_ascii_lowercase().as_str() {
            "passwordauthentication" => &mut self.password,
            "permitrootlogin" => &mut self.root,
            _ => return,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value);
        }
    }
}

/// `sshd -T` prints `key value`, lower-case, one per line.
fn effective_from_dump(lines: &[&str]) -> SshdSettings {
    let mut settings = SshdSettings::default();
    for line in lines {
        if let Some((key, value)) = line.split_once(' ') {
            settings.offer(key, value);
        }
    }
    settings
}

/// `-o` options first, then the file up to its first `Match` block.
fn effective_from_config(args: &[&str], config: &[&str]) -> SshdSettings {
    let mut settings = SshdSettings::default();
    let mut options = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if *arg == "-o" {
            options.extend(args.next());
        } else if let Some(option) = arg.strip_prefix("-o") {
            options.push(option);
        }
    }
    let split = |line: &str| -> Option<(String, String)> {
        let line = line.trim();
        let at = line.find(|c: char| c == '=' || c.is_whitespace())?;
        let (key, value) = line.split_at(at);
        let value = value.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
        Some((key.to_string(), value.to_string()))
    };
    for option in options {
        if let Some((key, value)) = split(option) {
            settings.offer(&key, &value);
        }
    }
    for line in config {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = split(line) else {
            continue;
        };
        if key.eq_ignore_ascii_case("match") {
            break;
        }
        settings.offer(&key, value.split('#').next().unwrap_or(""));
    }
    settings
}

fn world_writable(sections: &Sections, options: &Options) -> Finding {
    const CHECK: &str = "world-writable";
    if options.paths.is_empty() {
        return Finding::new(CHECK, Status::Info, "no --paths given: not checked");
    }
    let Some(lines) = sections.get("world-writable") else {
        return incomplete(CHECK);
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut cut = false;
    let mut in_path = 0;
    for line in lines {
        if line.starts_with("@path ") {
            in_path = 0;
        } else if let Some(path) = line.strip_prefix("@missing ") {
            missing.push(path.to_string());
        } else if in_path < WORLD_WRITABLE_LIMIT {
            in_path += 1;
            found.push(line.to_string());
        } else {
            cut = true;
        }
    }
    let searched = options.paths.join(", ");
    if !found.is_empty() {
        let more = if cut {
            format!(" (first {WORLD_WRITABLE_LIMIT} per path)")
        } else {
            String::new()
        };
        return Finding::new(
            CHECK,
            Status::Fail,
            format!(
                "{} writable by anyone{more}: {}",
                found.len(),
                shown_list(&found)
            ),
        );
    }
    if !missing.is_empty() {
        return Finding::new(
            CHECK,
            Status::Warn,
            format!("not found on the host: {}", missing.join(", ")),
        );
    }
    Finding::new(CHECK, Status::Pass, format!("none in {searched}"))
}

fn reboot(sections: &Sections) -> Finding {
    const CHECK: &str = "reboot";
    let Some(lines) = sections.get("reboot") else {
        return incomplete(CHECK);
    };
    match lines.first().copied().unwrap_or("") {
        "required" => {
            let packages = &lines[1..];
            let detail = if packages.is_empty() {
                "/var/run/reboot-required exists".to_string()
            } else {
                format!("/var/run/reboot-required (for {})", packages.join(", "))
            };
            Finding::new(CHECK, Status::Warn, detail)
        }
        "needs-restarting 1" => {
            Finding::new(CHECK, Status::Warn, "needs-restarting -r: reboot needed")
        }
        "needs-restarting 0" => {
            Finding::new(CHECK, Status::Pass, "needs-restarting -r: no reboot needed")
        }
        "none" => Finding::new(CHECK, Status::Pass, "no reboot pending"),
        other => Finding::new(CHECK, Status::Warn, format!("cannot tell: {other}")),
    }
}

fn ports(sections: &Sections, options: &Options) -> Finding {
    const CHECK: &str = "ports";
    let Some(lines) = sections.get("tcp") else {
        return incomplete(CHECK);
    };
    let listening = listening_ports(lines);
    let list = |ports: &BTreeSet<u16>| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(allowed) = &options.allow_ports else {
        return Finding::new(
            CHECK,
            Status::Info,
            format!(
                "listening: {} (no --allow-ports given: not judged)",
                list(&listening)
            ),
        );
    };
    let unexpected: BTreeSet<u16> = listening.difference(allowed).copied().collect();
    if unexpected.is_empty() {
        Finding::new(
            CHECK,
            Status::Pass,
            format!("listening: {} (all allowed)", list(&listening)),
        )
    } else {
        Finding::new(
            CHECK,
            Status::Fail,
            format!(
                "not in --allow-ports: {} (allowed: {})",
                list(&unexpected),
                list(allowed)
            ),
        )
    }
}

/// Ports in state LISTEN (0A) in /proc/net/tcp{,6} lines.
fn listening_ports(lines: &[&str]) -> BTreeSet<u16> {
    lines
        .iter()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != "0A" {
                return None;
            }
            let port = local.rsplit_once(':')?.1;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_path_lists_are_cut_with_a_count() {
        let paths: Vec<String> = (0..13).map(|i| format!("/p{i}")).collect();
        let text = super::shown_list(&paths);
        assert!(
            text.starts_with("/p0, /p1,") && text.ends_with("/p9 and 3 more"),
            "{text}"
        );
        assert_eq!(super::shown_list(&paths[..2]), "/p0, /p1");
    }

    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1";

    fn output(sshd: &str, ww: &str, reboot: &str) -> String {
        format!(
            "@@sshd\ncmdline /usr/sbin/sshd -D -f /x/cfg\nconfig /x/cfg\narg -o\narg PasswordAuthentication=yes\n{sshd}@@world-writable\n{ww}@@reboot\n{reboot}\n@@tcp\n{TCP}\n@@end\n"
        )
    }

    fn find<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
        findings.iter().find(|f| f.check == check).unwrap()
    }

    #[test]
    fn sshd_dump_decides_and_ports_are_judged() {
        let options = Options {
            paths: vec!["/srv".into()],
            allow_ports: Some([22].into()),
        };
        let out = output(
            "@@sshd-T\nport 22\npasswordauthentication no\npermitrootlogin yes\n",
            "@path /srv\n",
            "none",
        );
        let findings = evaluate(&out, &options);
        assert_eq!(find(&findings, "ssh-password-auth").status, Status::Pass);
        let root = find(&findings, "ssh-root-login");
        assert_eq!(root.status, Status::Fail);
        assert!(root.detail.contains("sshd -T -f /x/cfg"), "{}", root.detail);
        assert_eq!(find(&findings, "world-writable").status, Status::Pass);
        assert_eq!(find(&findings, "reboot").status, Status::Pass);
        let ports = find(&findings, "ports");
        assert_eq!(ports.status, Status::Fail);
        assert_eq!(ports.detail, "not in --allow-ports: 5432 (allowed: 22)");
    }

    #[test]
    fn config_fallback_takes_command_line_options_first() {
        let out = output(
            "@@sshd-T-failed\nsshd: no hostkeys available -- exiting.\n@@sshd-config\n# c\nPermitRootLogin no\nPasswordAuthentication no\nMatch User x\n  PermitRootLogin yes\n",
            "@path /srv\n/srv/open\n@missing /nope\n",
            "required\nlinux-image-6.1",
        );
        let findings = evaluate(
            &out,
            &Options {
                paths: vec!["/srv".into(), "/nope".into()],
                allow_ports: None,
            },
        );
        let password = find(&findings, "ssh-password-auth");
        assert_eq!(password.status, Status::Fail);
        assert!(
            password.detail.contains("no hostkeys"),
            "{}",
            password.detail
        );
        assert_eq!(find(&findings, "ssh-root-login").status, Status::Pass);
        let ww = find(&findings, "world-writable");
        assert_eq!(ww.status, Status::Fail);
        assert!(ww.detail.contains("/srv/open"), "{}", ww.detail);
        assert_eq!(find(&findings, "reboot").status, Status::Warn);
        let ports = find(&findings, "ports");
        assert_eq!(
            (ports.status, ports.detail.as_str()),
            (
                Status::Info,
                "listening: 22, 5432 (no --allow-ports given: not judged)"
            )
        );
    }

    #[test]
    fn cut_short_output_fails_rather_than_passes() {
        let findings = evaluate("@@sshd\ncmdline\n", &Options::default());
        assert!(
            findings
                .iter()
                .filter(|f| f.check != "world-writable")
                .all(|f| f.status == Status::Fail)
        );
    }
}
