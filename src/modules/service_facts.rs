//! `service_facts`: the host's services as `ansible_facts.services`, in one
//! round trip, as Ansible's module finds them on Linux: the SysV scripts
//! (`service --status-all`: "cron" -> {state running|stopped, source sysv}),
//! then, when systemd runs, its service units ("cron.service" -> {state,
//! status, source systemd}), which win where names meet.

use serde_json::{Map, Value, json};

use super::args::Args;
use super::spec::{Module, async_run};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// service_facts, as a task writes it (it takes no parameters).
pub const MODULE: Module = Module {
    name: "service_facts",
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Prints sections `#sysv`, `#units` and `#unit-files`. Without `service`
/// (a minimal image) the scripts in /etc/init.d are asked directly, the
/// way Debian's `service --status-all` asks them (running: status exits 0
/// and says something). Ansible skips the SysV listing
/// where chkconfig or OpenRC manage the scripts.
const QUERY: &str = r#"LC_ALL=C; export LC_ALL
if ! command -v chkconfig >/dev/null 2>&1 && ! command -v rc-status >/dev/null 2>&1; then
  if command -v service >/dev/null 2>&1; then
    echo '#sysv'; service --status-all 2>&1 </dev/null
  elif [ -d /etc/init.d ]; then
    echo '#sysv'
    for s in /etc/init.d/*; do
      n=${s##*/}
      case "$n" in README|skeleton|rc|rcS|functions|halt|reboot|single|*.sh|*.dpkg-*) continue;; esac
      [ -f "$s" ] && [ -x "$s" ] || continue
      out=$("$s" status 2>&1 </dev/null); rc=$?
      case "$out" in
        *[Uu]sage:*) echo " [ ? ]  $n" ;;
        *) if [ $rc = 0 ] && [ -n "$out" ]; then echo " [ + ]  $n"; else echo " [ - ]  $n"; fi ;;
      esac
    done
  fi
fi
if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then
  echo '#units'; systemctl list-units --no-pager --type service --all --plain --no-legend 2>&1
  echo '#unit-files'; systemctl list-unit-files --no-pager --type service --all --no-legend 2>&1
fi
exit 0"#;

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    Args::new(&MODULE, vars)?;
    let out = ctx.transport.exec(QUERY, &ctx.exec).await?;
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "service_facts failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let services = parse(&String::from_utf8_lossy(&out.stdout));
    if services.is_empty() {
        return Ok(ModuleOutput {
            skipped: true,
            msg: Some("Failed to find any services. This can be due to privileges or some other configuration issue.".into()),
            ..ModuleOutput::default()
        });
    }
    let mut facts = Vars::new();
    facts.insert("services".into(), Value::Object(services));
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), Value::Object(facts));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

/// Unit states that say more than active/inactive (Ansible's BAD_STATES).
const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

fn parse(text: &str) -> Map<String, Value> {
    let mut services = Map::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('#') {
            section = name;
            continue;
        }
        match section {
            "sysv" => sysv_line(line, &mut services),
            "units" => unit_line(line, &mut services),
            "unit-files" => unit_file_line(line, &mut services),
            _ => {}
        }
    }
    services
}

/// ` [ + ]  cron`: `+` running, `-` stopped; `?` (no status action) is
/// left out, as Ansible's pattern does.
fn sysv_line(line: &str, services: &mut Map<String, Value>) {
    let Some(rest) = line.trim_start().strip_prefix("[ ") else {
        return;
    };
    let state = match rest.chars().next() {
        Some('+') => "running",
        Some('-') => "stopped",
        _ => return,
    };
    let Some(name) = rest[1..].strip_prefix(" ]").map(str::trim) else {
        return;
    };
    if !name.is_empty() {
        services.insert(
            name.into(),
            json!({"name": name, "state": state, "source": "sysv"}),
        );
    }
}

/// `cron.service loaded active running Regular background program...`.
fn unit_line(line: &str, services: &mut Map<String, Value>) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 4 || !fields[0].contains(".service") {
        return;
    }
    // Any word but the last (the description's) may carry a bad state.
    let head = &fields[..fields.len() - 1];
    let status = BAD_STATES
        .iter()
        .find(|bad| head.contains(bad))
        .copied()
        .unwrap_or(fields[2]);
    let state = if fields[3] == "running" {
        "running"
    } else {
        "stopped"
    };
    services.insert(
        fields[0].into(),
        json!({"name": fields[0], "state": state, "status": status, "source": "systemd"}),
    );
}

/// `cron.service enabled enabled`: the enablement of units already seen;
/// a unit file no unit is loaded from is inactive (a template, `x@.service`,
/// has no state at all: "unknown").
fn unit_file_line(line: &str, services: &mut Map<String, Value>) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 2 || !fields[0].contains(".service") {
        return;
    }
    let (name, status) = (fields[0], fields[1]);
    match services.get_mut(name) {
        Some(known) => {
            let bad = known["status"]
                .as_str()
                .is_some_and(|s| BAD_STATES.contains(&s));
            if !bad {
                known["status"] = json!(status);
            }
        }
        None => {
            let state = if name.contains("@.") {
                "unknown"
            } else {
                "inactive"
            };
            services.insert(
                name.into(),
                json!({"name": name, "state": state, "status": status, "source": "systemd"}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysv_then_systemd() {
        let text = "#sysv\n [ + ]  cron\n [ - ]  ssh\n [ ? ]  hwclock.sh\nnoise\n\
            #units\n\
            cron.service loaded active running Regular background program processing daemon\n\
            ssh.service loaded inactive dead OpenBSD Secure Shell server\n\
            gone.service not-found inactive dead gone.service\n\
            broken.service loaded failed failed Broken thing\n\
            #unit-files\n\
            cron.service enabled enabled\n\
            ssh.service disabled enabled\n\
            gone.service disabled enabled\n\
            getty@.service enabled enabled\n\
            idle.service static -\n";
        let s = parse(text);
        assert_eq!(
            s["cron"],
            json!({"name": "cron", "state": "running", "source": "sysv"})
        );
        assert_eq!(s["ssh"]["state"], "stopped");
        assert!(s.get("hwclock.sh").is_none());
        assert_eq!(
            s["cron.service"],
            json!({"name": "cron.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(s["ssh.service"]["state"], "stopped");
        assert_eq!(s["ssh.service"]["status"], "disabled");
        assert_eq!(s["gone.service"]["status"], "not-found");
        assert_eq!(s["broken.service"]["status"], "failed");
        assert_eq!(s["getty@.service"]["state"], "unknown");
        assert_eq!(s["idle.service"]["state"], "inactive");
        assert_eq!(s["idle.service"]["status"], "static");
    }
}
