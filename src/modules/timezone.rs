//! `timezone` (community.general.timezone): the system's time zone and
//! whether the hardware clock keeps UTC or local time, Debian style.
//!
//! One round trip reads the state: with systemd running (`timedatectl`
//! answers), `timedatectl status`; otherwise `/etc/timezone` and where
//! `/etc/localtime` points (or whether it holds the same bytes as the
//! zone's file), as Ansible's module does. A change is made with
//! `timedatectl set-timezone`/`set-local-rtc`, or by rewriting
//! `/etc/timezone` atomically and replacing the `/etc/localtime` link in
//! one rename. `hwclock` without systemd needs a hardware clock: on a host
//! without one (a container) it is ignored with a warning.
//!
//! The result's `diff` is Ansible's: `{before: {name, hwclock}, after: ..}`
//! with the keys the task gave.

use serde_json::{Value, json};

use super::args::Args;
use super::edit::{self, split_lines_keep};
use super::owner_group_mode::Attrs;
use super::remote_file::{self, WriteSpec};
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// timezone, as a task writes it (`community.general.timezone`).
pub const MODULE: Module = Module {
    name: "timezone",
    aliases: &["community.general.timezone"],
    params: &[p("name"), alias("hwclock", &["rtc"])],
    required: &[&["name", "hwclock"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const ZONEINFO: &str = "/usr/share/zoneinfo";
const TIMEZONE_FILE: &str = "/etc/timezone";
const LOCALTIME: &str = "/etc/localtime";

#[derive(Debug)]
struct Params {
    name: Option<String>,
    /// `local` or `UTC`.
    hwclock: Option<String>,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let p = Params {
        name: args.str("name")?,
        hwclock: args.choice("hwclock", &["local", "UTC"], None)?,
    };
    if p.name.is_none() && p.hwclock.is_none() {
        return Err(args.error("one of the following is required: hwclock, name"));
    }
    if let Some(name) = &p.name
        && (name.is_empty()
            || name.starts_with('/')
            || name.split('/').any(|part| part == ".." || part == "."))
    {
        return Err(args.error(format!(
            "name {name:?} is not a time zone name: give one like Europe/Paris (a file under {ZONEINFO})"
        )));
    }
    Ok(p)
}

/// What the probe saw.
#[derive(Debug, Default, PartialEq)]
struct State {
    /// `timedatectl`'s path when systemd answers.
    timedatectl: Option<String>,
    /// The zone's file exists.
    zone_exists: bool,
    /// systemd: `Time zone:`; otherwise the first word of /etc/timezone.
    zone: Option<String>,
    /// systemd: `RTC in local TZ:` (yes/no).
    rtc_local: Option<String>,
    /// /etc/localtime: `link:<target>`, `broken`, `same` (same bytes as
    /// the zone's file) or `other`.
    localtime: String,
    /// The third line of /etc/adjtime (UTC/LOCAL).
    adjtime: Option<String>,
    /// A hardware clock exists (/dev/rtc*).
    rtc: bool,
}

/// Picks `timedatectl status`'s zone and RTC lines as `zone:` and
/// `rtc-local:` lines.
const STATUS_FILTER: &str = "sed -n \
    -e 's/^[[:space:]]*Time \\{0,1\\}zone[[:space:]]*:[[:space:]]*\\([^[:space:]]*\\).*/zone:\\1/p' \
    -e 's/^[[:space:]]*RTC in local TZ[[:space:]]*:[[:space:]]*\\([^[:space:]]*\\).*/rtc-local:\\1/p'";

fn probe_script(zone: &str) -> String {
    let z = shell_quote(zone);
    format!(
        "export LC_ALL=C LANGUAGE=C; z={z}; zi={ZONEINFO}; \
         if [ -n \"$z\" ] && [ -f \"$zi/$z\" ]; then echo zone-exists; fi; \
         if t=$(command -v timedatectl) && s=$(timedatectl status 2>/dev/null); then \
           echo \"timedatectl:$t\"; printf '%s\\n' \"$s\" | {STATUS_FILTER}; \
         else \
           if [ -f {TIMEZONE_FILE} ]; then \
             sed -n 's/^\\([^[:space:]]\\{{1,\\}}\\).*/zone:\\1/p' {TIMEZONE_FILE} | head -n 1; fi; \
           if [ -L {LOCALTIME} ]; then \
             if [ -e {LOCALTIME} ]; then echo \"localtime:link:$(readlink {LOCALTIME})\"; \
             else echo localtime:broken; fi; \
           elif [ -n \"$z\" ] && cmp -s {LOCALTIME} \"$zi/$z\"; then echo localtime:same; \
           else echo localtime:other; fi; \
         fi; \
         if [ -f /etc/adjtime ]; then echo \"adjtime:$(sed -n 3p /etc/adjtime)\"; fi; \
         for r in /dev/rtc /dev/rtc0; do if [ -e \"$r\" ]; then echo rtc; break; fi; done"
    )
}

fn parse_probe(stdout: &str) -> State {
    let mut s = State::default();
    for line in stdout.lines() {
        if line == "zone-exists" {
            s.zone_exists = true;
        } else if line == "rtc" {
            s.rtc = true;
        } else if let Some(t) = line.strip_prefix("timedatectl:") {
            s.timedatectl = Some(t.to_string());
        } else if let Some(z) = line.strip_prefix("zone:") {
            s.zone.get_or_insert_with(|| z.to_string());
        } else if let Some(r) = line.strip_prefix("rtc-local:") {
            s.rtc_local = Some(r.to_string());
        } else if let Some(l) = line.strip_prefix("localtime:") {
            s.localtime = l.to_string();
        } else if let Some(a) = line.strip_prefix("adjtime:") {
            s.adjtime = Some(a.trim().to_string());
        }
    }
    s
}

/// The zone a host without systemd is in, as Ansible reads it: the name
/// in /etc/timezone, unless it is the planned one and /etc/localtime says
/// otherwise.
fn current_zone(s: &State, planned: &str) -> String {
    let Some(zone) = s.zone.clone().filter(|z| !z.is_empty()) else {
        return "n/a".into();
    };
    if s.timedatectl.is_some() || zone != planned {
        return zone;
    }
    match s.localtime.strip_prefix("link:") {
        Some(target) => {
            let linked = ["/usr/share/zoneinfo/", "/etc/zoneinfo/"]
                .iter()
                .find_map(|dir| target.find(dir).map(|i| &target[i + dir.len()..]));
            match linked {
                Some(l) => l.to_string(),
                None => "n/a".into(),
            }
        }
        None if s.localtime == "same" => zone,
        None => "n/a".into(),
    }
}

/// The hardware clock's setting: `local` or `UTC`.
fn current_hwclock(s: &State) -> String {
    let local = match (&s.timedatectl, &s.rtc_local, &s.adjtime) {
        (Some(_), Some(r), _) => r == "yes",
        (_, _, Some(a)) => a == "LOCAL",
        _ => false,
    };
    if local { "local" } else { "UTC" }.into()
}

/// /etc/timezone with the zone line replaced (other zone lines dropped),
/// as Ansible edits it.
fn timezone_file(text: &str, zone: &str) -> (String, usize) {
    let mut lines = split_lines_keep(text);
    let is_zone = |l: &String| l.chars().next().is_some_and(|c| !c.is_whitespace());
    let matched: Vec<usize> = (0..lines.len()).filter(|&i| is_zone(&lines[i])).collect();
    let at = matched.first().copied().unwrap_or(0);
    for &i in matched.iter().rev() {
        lines.remove(i);
    }
    lines.insert(at, format!("{zone}\n"));
    (lines.concat(), matched.len())
}

fn side(p: &Params, zone: &str, hwclock: &str) -> Value {
    let mut m = serde_json::Map::new();
    if p.name.is_some() {
        m.insert("name".into(), json!(zone));
    }
    if p.hwclock.is_some() {
        m.insert("hwclock".into(), json!(hwclock));
    }
    Value::Object(m)
}

fn text_of(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {}\n", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    let planned_zone = p.name.clone().unwrap_or_default();
    let probe = ctx
        .transport
        .exec(&probe_script(&planned_zone), &ctx.exec)
        .await?;
    let state = parse_probe(&String::from_utf8_lossy(&probe.stdout));
    if p.name.is_some() && !state.zone_exists {
        return Ok(ModuleOutput::failed(format!(
            "Error message:\ngiven timezone \"{planned_zone}\" is not available"
        )));
    }
    let before_zone = current_zone(&state, &planned_zone);
    let mut warnings = Vec::new();
    let mut before_hw = current_hwclock(&state);
    let mut planned_hw = p.hwclock.clone().unwrap_or_else(|| before_hw.clone());
    if p.hwclock.is_some() && state.timedatectl.is_none() && !state.rtc {
        warnings.push(format!(
            "hwclock={planned_hw} ignored: {} has no hardware clock (/dev/rtc)",
            ctx.host
        ));
        before_hw = planned_hw.clone();
        planned_hw = before_hw.clone();
    }
    let before = side(&p, &before_zone, &before_hw);
    let planned = side(&p, &planned_zone, &planned_hw);
    let changed = before != planned;
    let mut out = ModuleOutput {
        changed,
        ..ModuleOutput::default()
    };
    let mut msgs: Vec<String> = Vec::new();
    if changed && !ctx.check_mode {
        let zone_change = p.name.is_some() && before_zone != planned_zone;
        let hw_change = p.hwclock.is_some() && before_hw != planned_hw;
        let result = match &state.timedatectl {
            Some(t) => {
                with_timedatectl(
                    ctx,
                    t,
                    zone_change.then_some(&planned_zone),
                    hw_change.then_some(&planned_hw),
                    &mut msgs,
                )
                .await?
            }
            None => {
                with_files(
                    ctx,
                    zone_change.then_some(&planned_zone),
                    hw_change.then_some(&planned_hw),
                    &mut msgs,
                )
                .await?
            }
        };
        if let Err(msg) = result {
            let mut failed = ModuleOutput::failed(msg);
            failed.changed = true;
            return Ok(failed);
        }
        if state.timedatectl.is_some() {
            // systemd may refuse quietly: read it back, as Ansible does.
            let again = ctx
                .transport
                .exec(&probe_script(&planned_zone), &ctx.exec)
                .await?;
            let after_state = parse_probe(&String::from_utf8_lossy(&again.stdout));
            let after = side(
                &p,
                &current_zone(&after_state, &planned_zone),
                &current_hwclock(&after_state),
            );
            if after != planned {
                let mut failed = ModuleOutput::failed(format!(
                    "Error message:\nstill not desired state, though changes have made - planned: {planned}, after: {after}"
                ));
                failed.changed = true;
                return Ok(failed);
            }
        }
    }
    let diff = json!({"before": before, "after": planned});
    if ctx.diff && changed {
        out.diffs.push(FileDiff {
            path: "timezone".into(),
            before: Some(text_of(&before)),
            after: Some(text_of(&planned)),
        });
    }
    out.data.insert("diff".into(), diff);
    if !msgs.is_empty() {
        let msg = msgs.join("\n");
        out.data.insert("msg".into(), json!(msg));
        out.msg = Some(msg);
    }
    if !warnings.is_empty() {
        out.data.insert("warnings".into(), json!(warnings));
    }
    Ok(out)
}

/// A command's failure as Ansible's module words it.
fn failure(what: &str, out: &crate::ssh::ExecOutput) -> String {
    format!(
        "Error message:\n{what} failed (rc={}): {}",
        out.exit_code.unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

async fn with_timedatectl(
    ctx: &ModuleContext<'_>,
    timedatectl: &str,
    zone: Option<&String>,
    hwclock: Option<&String>,
    msgs: &mut Vec<String>,
) -> Result<Result<(), String>, ModuleError> {
    let mut steps = Vec::new();
    if let Some(z) = zone {
        steps.push(vec!["set-timezone".to_string(), z.clone()]);
    }
    if let Some(h) = hwclock {
        let local = if h == "local" { "yes" } else { "no" };
        steps.push(vec!["set-local-rtc".to_string(), local.to_string()]);
    }
    for step in steps {
        let line = format!("{timedatectl} {}", step.join(" "));
        let cmd = format!(
            "LC_ALL=C {} {}",
            shell_quote(timedatectl),
            step.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = ctx.transport.exec(&cmd, &ctx.exec).await?;
        if !out.success() {
            return Ok(Err(failure(&line, &out)));
        }
        msgs.push(format!("executed `{line}`"));
    }
    Ok(Ok(()))
}

async fn with_files(
    ctx: &ModuleContext<'_>,
    zone: Option<&String>,
    hwclock: Option<&String>,
    msgs: &mut Vec<String>,
) -> Result<Result<(), String>, ModuleError> {
    if let Some(z) = zone {
        let info = edit::read(ctx, TIMEZONE_FILE).await?;
        let before = info.content.as_deref().unwrap_or_default();
        let (text, removed) = timezone_file(&edit::decode_exact(before), z);
        let attrs = Attrs::default();
        let spec = WriteSpec {
            path: TIMEZONE_FILE,
            content: &edit::encode_exact(&text),
            attrs: &attrs,
            backup: false,
            validate: None,
            existing: &info,
            sha1: None,
        };
        if let Err(remote_file::WriteFailure::Other(e)) = remote_file::write(ctx, &spec).await {
            return Err(e);
        }
        msgs.push(format!(
            "Added 1 line and deleted {removed} line(s) on {TIMEZONE_FILE}"
        ));
        // The new link replaces the old file or link in one rename.
        let target = shell_quote(&format!("{ZONEINFO}/{z}"));
        let link = format!(
            "t=/etc/.localtime.herd-$$; rm -f \"$t\" && ln -s {target} \"$t\" && mv -f \"$t\" {LOCALTIME} \
             || {{ rc=$?; rm -f \"$t\"; exit $rc; }}"
        );
        let out = ctx.transport.exec(&link, &ctx.exec).await?;
        if !out.success() {
            return Ok(Err(failure(&format!("linking {LOCALTIME}"), &out)));
        }
    }
    if let Some(h) = hwclock {
        let option = if h == "local" { "--localtime" } else { "--utc" };
        let line = format!("hwclock --systohc {option}");
        let out = ctx.transport.exec(&line, &ctx.exec).await?;
        if !out.success() {
            return Ok(Err(failure(&line, &out)));
        }
        msgs.push(format!("executed `{line}`"));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(zone: &str, localtime: &str) -> State {
        State {
            zone_exists: true,
            zone: Some(zone.into()),
            localtime: localtime.into(),
            ..State::default()
        }
    }

    #[test]
    fn the_zone_is_read_from_etc_timezone_then_checked_against_the_link() {
        let linked = "link:/usr/share/zoneinfo/Europe/Paris";
        assert_eq!(
            current_zone(&state("Etc/UTC", linked), "Asia/Tokyo"),
            "Etc/UTC"
        );
        assert_eq!(
            current_zone(&state("Asia/Tokyo", linked), "Asia/Tokyo"),
            "Europe/Paris"
        );
        assert_eq!(
            current_zone(
                &state("Europe/Paris", "link:../usr/share/zoneinfo/Europe/Paris"),
                "Europe/Paris"
            ),
            "Europe/Paris"
        );
        assert_eq!(
            current_zone(&state("Europe/Paris", "same"), "Europe/Paris"),
            "Europe/Paris"
        );
        assert_eq!(
            current_zone(&state("Europe/Paris", "other"), "Europe/Paris"),
            "n/a"
        );
        assert_eq!(current_zone(&State::default(), "Europe/Paris"), "n/a");
    }

    #[test]
    fn the_probe_output_is_parsed() {
        let s = parse_probe(
            "zone-exists\nzone:Etc/UTC\nlocaltime:link:/usr/share/zoneinfo/Etc/UTC\nadjtime:LOCAL\n",
        );
        assert!(s.zone_exists && !s.rtc && s.timedatectl.is_none());
        assert_eq!(s.zone.as_deref(), Some("Etc/UTC"));
        assert_eq!(current_hwclock(&s), "local");
        let s =
            parse_probe("timedatectl:/usr/bin/timedatectl\nzone:Asia/Tokyo\nrtc-local:no\nrtc\n");
        assert_eq!(current_zone(&s, "Asia/Tokyo"), "Asia/Tokyo");
        assert_eq!(current_hwclock(&s), "UTC");
    }

    #[test]
    fn timedatectl_status_is_read() {
        let status = "               Local time: Sat 2026-12-05 07:00:00 JST\n\
                      \x20          Time zone: Asia/Tokyo (JST, +0900)\n\
                      \x20    RTC in local TZ: no\n";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' \"$0\" | {STATUS_FILTER}"))
            .arg(status)
            .output()
            .unwrap();
        let s = parse_probe(&format!(
            "timedatectl:/usr/bin/timedatectl\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
        assert_eq!(s.zone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(current_hwclock(&s), "UTC");
    }

    #[test]
    fn etc_timezone_gets_one_zone_line() {
        assert_eq!(
            timezone_file("Etc/UTC\n", "Asia/Tokyo"),
            ("Asia/Tokyo\n".into(), 1)
        );
        assert_eq!(timezone_file("", "UTC"), ("UTC\n".into(), 0));
        assert_eq!(
            timezone_file("  # note\nA\nB\n", "C"),
            ("  # note\nC\n".into(), 2)
        );
    }

    #[test]
    fn names_outside_zoneinfo_are_refused() {
        for bad in ["../../etc/passwd", "/etc/passwd", "Europe/../../x", ""] {
            let vars = json!({"name": bad}).as_object().unwrap().clone();
            assert!(parse(&vars).is_err(), "{bad}");
        }
    }
}
