//! The one round trip per host: a POSIX sh script that prints every
//! built-in metric's raw source (/proc, df), each service's state, each
//! custom collector's output and each probe's result as sections of one
//! stream, and the reader that turns that stream into samples on the
//! controller. Hosts need only sh, coreutils and /proc; ping and bash are
//! used only when probes ask for them.

use std::collections::HashMap;

use super::config::{CollectConfig, Parse, Probe};
use crate::ssh::shell_quote;

/// Starts every section header line. A collector printing it would confuse
/// only its own host's numbers, which that host controls anyway.
const MARK: &str = "@@herd-collect@@";

/// How long a probe may take before it counts as failed.
const PROBE_TIMEOUT_SECS: u32 = 5;

/// The script run on every host for `config`.
pub fn script(config: &CollectConfig) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "M={MARK}\ns() {{ printf '\\n%s %s\\n' \"$M\" \"$*\"; }}\n\
         T=; command -v timeout >/dev/null 2>&1 && T='timeout {PROBE_TIMEOUT_SECS}'\n\
         s stat; head -n 1 /proc/stat\n\
         s loadavg; cat /proc/loadavg\n\
         s meminfo; cat /proc/meminfo\n\
         s uptime; cat /proc/uptime\n\
         s procs; set -- /proc/[0-9]*; echo $#\n\
         s netdev; cat /proc/net/dev\n\
         s df; df -P 2>/dev/null\n"
    ));
    if !config.services.is_empty() {
        s.push_str("if command -v systemctl >/dev/null 2>&1; then\n");
        for (i, service) in config.services.iter().enumerate() {
            s.push_str(&format!(
                "s service {i}; systemctl is-active {} 2>/dev/null\n",
                shell_quote(service)
            ));
        }
        s.push_str("else s nosystemctl; fi\n");
    }
    for (i, collector) in config.collectors.iter().enumerate() {
        // A subshell: a collector's `exit` or `cd` cannot end the script.
        // `eval` of the quoted text: the command is parsed only when it
        // runs, so a syntax error fails that collector alone instead of
        // the whole script (collect.yml is also checked with `sh -n`).
        s.push_str(&format!(
            "s collector {i}; ( eval {} ) </dev/null 2>/dev/null; s status $?\n",
            shell_quote(&collector.command)
        ));
    }
    for (i, probe) in config.probes.iter().enumerate() {
        match probe {
            Probe::Ping { dest } => s.push_str(&format!(
                "s ping {i}; if command -v ping >/dev/null 2>&1; then $T ping -n -q -c 5 -i 0.2 -W 1 {} 2>&1; else echo noping; fi\n",
                shell_quote(dest)
            )),
            // bash's /dev/tcp with its own clock: no process start in the
            // measured time.
            Probe::Tcp { host, port } => s.push_str(&format!(
                "s tcp {i}; if command -v bash >/dev/null 2>&1; then $T bash -c 's=$EPOCHREALTIME; exec 3<>/dev/tcp/\"$0\"/\"$1\" && echo \"$s $EPOCHREALTIME\"' {} {} 2>/dev/null || echo fail; else echo nobash; fi\n",
                shell_quote(host),
                port
            )),
        }
    }
    // CPU use is the share of non-idle time between two reads of /proc/stat.
    s.push_str("sleep 0.5\ns stat2; head -n 1 /proc/stat\ns end\n");
    s
}

/// One host's numbers, and what could not be read (said, never fatal).
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    /// (metric, value) pairs.
    pub values: Vec<(String, f64)>,
    pub warnings: Vec<String>,
}

/// Reads the output of [`script`] run with the same `config`.
pub fn read(output: &str, config: &CollectConfig) -> Reading {
    let sections = sections(output);
    let mut r = Reading::default();
    let get = |name: &str| sections.get(name).map(String::as_str);
    if let (Some(a), Some(b)) = (get("stat"), get("stat2"))
        && let Some(pct) = cpu_used_pct(a, b)
    {
        r.push("cpu.used_pct", pct);
    }
    if let Some(text) = get("loadavg") {
        let fields: Vec<f64> = text
            .split_whitespace()
            .take(3)
            .filter_map(|f| f.parse().ok())
            .collect();
        if let [one, five, fifteen] = fields[..] {
            r.push("load.1", one);
            r.push("load.5", five);
            r.push("load.15", fifteen);
        }
    }
    if let Some(text) = get("meminfo") {
        memory(text, &mut r);
    }
    if let Some(secs) = get("uptime").and_then(first_number) {
        r.push("uptime.seconds", secs);
    }
    if let Some(n) = get("procs").and_then(first_number) {
        r.push("procs.count", n);
    }
    if let Some(text) = get("netdev") {
        let (rx, tx) = net_bytes(text);
        r.push("net.rx_bytes", rx);
        r.push("net.tx_bytes", tx);
    }
    if let Some(text) = get("df") {
        for (mount, pct) in disks(text) {
            r.push(&format!("disk.{mount}.used_pct"), pct);
        }
    }
    if sections.contains_key("nosystemctl") {
        r.warn("no systemctl on this host: service states not recorded".into());
    } else {
        for (i, service) in config.services.iter().enumerate() {
            if let Some(state) = get(&format!("service {i}")) {
                let active = if state.trim() == "active" { 1.0 } else { 0.0 };
                r.push(&format!("service.{service}.active"), active);
            }
        }
    }
    for (i, collector) in config.collectors.iter().enumerate() {
        let Some(text) = get(&format!("collector {i}")) else {
            continue;
        };
        let status = sections
            .get(&format!("status-after collector {i}"))
            .map(|s| s.trim().to_string());
        if let Some(code) = status.filter(|c| c != "0") {
            r.warn(format!(
                "collector {}: command exited {code}",
                collector.name
            ));
            continue;
        }
        match parse_collector(&collector.name, &collector.parse, text) {
            Ok(values) => r.values.extend(values),
            Err(why) => r.warn(format!("collector {}: {why}", collector.name)),
        }
    }
    for (i, probe) in config.probes.iter().enumerate() {
        let dest = probe.dest();
        match probe {
            Probe::Ping { .. } => match get(&format!("ping {i}")).map(ping) {
                Some(Ok(values)) => {
                    for (what, v) in values {
                        r.push(&format!("probe.ping.{dest}.{what}"), v);
                    }
                }
                Some(Err(why)) => r.warn(format!("ping probe {dest}: {why}")),
                None => {}
            },
            Probe::Tcp { .. } => match get(&format!("tcp {i}")).map(tcp_connect_ms) {
                Some(Ok(ms)) => {
                    r.push(&format!("probe.tcp.{dest}.connect_ms"), ms);
                    r.push(&format!("probe.tcp.{dest}.ok"), 1.0);
                }
                Some(Err(why)) => {
                    r.push(&format!("probe.tcp.{dest}.ok"), 0.0);
                    r.warn(format!("tcp probe {dest}: {why}"));
                }
                None => {}
            },
        }
    }
    if !sections.contains_key("end") {
        r.warn("the collect script did not finish; some metrics are missing".into());
    }
    r
}

impl Reading {
    fn push(&mut self, metric: &str, value: f64) {
        if value.is_finite() {
            self.values.push((metric.to_string(), value));
        }
    }

    fn warn(&mut self, text: String) {
        self.warnings.push(text);
    }
}

/// Splits the stream at header lines. A collector's `status` section is
/// keyed after the collector it follows; the newline each header adds
/// before itself is removed from the previous section.
fn sections(output: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut current: Option<String> = None;
    let mut body = String::new();
    let finish = |name: Option<String>, body: &mut String, out: &mut HashMap<_, _>| {
        if let Some(name) = name {
            let text = body.strip_suffix('\n').unwrap_or(body).to_string();
            out.insert(name, text);
        }
        body.clear();
    };
    for line in output.split_inclusive('\n') {
        let trimmed = line.trim_end_matches('\n');
        if let Some(rest) = trimmed.strip_prefix(MARK).and_then(|r| r.strip_prefix(' ')) {
            let name = match (rest.strip_prefix("status "), current.as_deref()) {
                (Some(_), Some(prev)) => {
                    let key = format!("status-after {prev}");
                    finish(current.take(), &mut body, &mut out);
                    out.insert(key, rest["status ".len()..].to_string());
                    continue;
                }
                _ => rest.to_string(),
            };
            finish(current.take(), &mut body, &mut out);
            current = Some(name);
        } else {
            body.push_str(line);
        }
    }
    finish(current, &mut body, &mut out);
    out
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Non-idle share of CPU time between two `cpu ...` lines of /proc/stat.
fn cpu_used_pct(before: &str, after: &str) -> Option<f64> {
    let fields = |line: &str| -> Vec<u64> {
        line.split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect()
    };
    let (a, b) = (fields(before), fields(after));
    if a.len() < 4 || a.len() != b.len() {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total = |v: &[u64]| v.iter().take(8).sum::<u64>();
    let idle = |v: &[u64]| v[3] + v.get(4).copied().unwrap_or(0);
    let total = total(&b).saturating_sub(total(&a));
    if total == 0 {
        return Some(0.0);
    }
    let idle = idle(&b).saturating_sub(idle(&a));
    Some(100.0 * (total.saturating_sub(idle)) as f64 / total as f64)
}

fn memory(meminfo: &str, r: &mut Reading) {
    let kib = |key: &str| -> Option<f64> {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            first_number(rest)
        })
    };
    if let (Some(total), Some(available)) = (kib("MemTotal"), kib("MemAvailable")) {
        r.push("mem.total_bytes", total * 1024.0);
        r.push("mem.available_bytes", available * 1024.0);
        if total > 0.0 {
            r.push("mem.used_pct", 100.0 * (1.0 - available / total));
        }
    }
    if let (Some(total), Some(free)) = (kib("SwapTotal"), kib("SwapFree")) {
        let used = if total > 0.0 {
            100.0 * (1.0 - free / total)
        } else {
            0.0
        };
        r.push("swap.used_pct", used);
    }
}

/// Bytes received and sent by every interface but loopback.
fn net_bytes(netdev: &str) -> (f64, f64) {
    let (mut rx, mut tx) = (0.0, 0.0);
    for line in netdev.lines() {
        let Some((iface, counters)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let fields: Vec<f64> = counters
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() >= 9 {
            rx += fields[0];
            tx += fields[8];
        }
    }
    (rx, tx)
}

/// Used share of each real filesystem's mount point from `df -P`, as df
/// computes it (used / (used + available)). Memory-backed and virtual
/// filesystems are left out.
fn disks(df: &str) -> Vec<(String, f64)> {
    const VIRTUAL: &[&str] = &["tmpfs", "devtmpfs", "udev", "none", "shm", "proc", "sysfs"];
    let mut out = Vec::new();
    for line in df.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        let mount = fields[5..].join(" ");
        let (Ok(blocks), Ok(used), Ok(available)) = (
            fields[1].parse::<f64>(),
            fields[2].parse::<f64>(),
            fields[3].parse::<f64>(),
        ) else {
            continue;
        };
        let virtual_fs = VIRTUAL.contains(&fields[0])
            || ["/dev", "/sys", "/proc", "/run"]
                .iter()
                .any(|p| mount == *p || mount.starts_with(&format!("{p}/")));
        if virtual_fs || blocks == 0.0 || used + available == 0.0 {
            continue;
        }
        out.push((mount, 100.0 * used / (used + available)));
    }
    out
}

/// A collector's output read the way its config says.
fn parse_collector(name: &str, parse: &Parse, text: &str) -> Result<Vec<(String, f64)>, String> {
    let text = text.trim();
    let number = |s: &str| -> Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{}` is not a number", clip(s.trim())))
    };
    match parse {
        Parse::Number => Ok(vec![(name.to_string(), number(text)?)]),
        Parse::KeyValue => {
            let mut values = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let (key, value) = line
                    .split_once('=')
                    .ok_or_else(|| format!("line `{}` is not key=value", clip(line)))?;
                values.push((format!("{name}.{}", key.trim()), number(value)?));
            }
            if values.is_empty() {
                return Err("no key=value lines in the output".into());
            }
            Ok(values)
        }
        Parse::Json { path } => {
            let doc: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("output is not JSON: {e}"))?;
            let mut at = &doc;
            for key in path {
                at = match at {
                    serde_json::Value::Array(items) => {
                        key.parse::<usize>().ok().and_then(|i| items.get(i))
                    }
                    serde_json::Value::Object(map) => map.get(key),
                    _ => None,
                }
                .ok_or_else(|| format!("no `{}` in the JSON output", path.join(".")))?;
            }
            let value = match at {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "`{}` is not a number: {}",
                    path.join("."),
                    clip(&at.to_string())
                )
            })?;
            Ok(vec![(name.to_string(), value)])
        }
        Parse::Regex { pattern } => {
            let caps = pattern.captures(text).ok_or_else(|| {
                format!("pattern `{}` does not match the output", pattern.as_str())
            })?;
            let group = caps.get(1).map_or("", |m| m.as_str());
            Ok(vec![(name.to_string(), number(group)?)])
        }
    }
}

/// At most 60 characters of `s`, for messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// rtt_ms, jitter_ms (iputils' mdev) and loss_pct from ping's summary.
fn ping(text: &str) -> Result<Vec<(&'static str, f64)>, String> {
    if text.trim() == "noping" {
        return Err("no ping command on this host".into());
    }
    let loss = regex::Regex::new(r"([\d.]+)% packet loss").expect("valid regex");
    let rtt =
        regex::Regex::new(r"= ([\d.]+)/([\d.]+)/([\d.]+)(?:/([\d.]+))? ms").expect("valid regex");
    let loss = loss
        .captures(text)
        .and_then(|c| c[1].parse::<f64>().ok())
        .ok_or_else(|| format!("cannot read ping's output: {}", clip(text.trim())))?;
    let mut values = vec![("loss_pct", loss)];
    if let Some(c) = rtt.captures(text) {
        if let Ok(avg) = c[2].parse() {
            values.push(("rtt_ms", avg));
        }
        if let Some(mdev) = c.get(4).and_then(|m| m.as_str().parse().ok()) {
            values.push(("jitter_ms", mdev));
        }
    }
    Ok(values)
}

/// Milliseconds between the two bash clock readings around the connect.
fn tcp_connect_ms(text: &str) -> Result<f64, String> {
    match text.trim() {
        "fail" | "" => return Err("connection failed or timed out".into()),
        "nobash" => return Err("the tcp probe needs bash on the host".into()),
        _ => {}
    }
    let times: Vec<f64> = text
        .split_whitespace()
        .filter_map(|t| t.replace(',', ".").parse().ok())
        .collect();
    match times[..] {
        [start, end] if end >= start => Ok((end - start) * 1000.0),
        _ => Err(format!(
            "cannot read the probe's clock (bash older than 5?): {}",
            clip(text.trim())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(yaml: &str) -> CollectConfig {
        CollectConfig::parse(yaml, Path::new("collect.yml")).unwrap()
    }

    /// The script run by `sh` here, and its output read back.
    fn run_locally(config: &CollectConfig) -> Reading {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(config))
            .output()
            .unwrap();
        read(&String::from_utf8_lossy(&out.stdout), config)
    }

    fn value(r: &Reading, metric: &str) -> Option<f64> {
        r.values.iter().find(|(m, _)| m == metric).map(|(_, v)| *v)
    }

    #[test]
    fn the_script_runs_locally_and_reads_back_every_builtin_metric() {
        let config = config(
            "services: [herd-no-such-unit]\ncollectors:\n  - name: q\n    command: printf 42\n    parse: number\n  - name: kv\n    command: printf 'a=1\\nb = 2.5\\n'\n    parse: keyvalue\n  - name: j\n    command: echo '{\"a\":[{\"b\":7}]}'\n    parse: json\n    path: a.0.b\n  - name: re\n    command: echo 'queue depth=9 ok'\n    parse: regex\n    pattern: 'depth=(\\d+)'\n  - name: bad\n    command: echo nope; exit 3\n    parse: number\n",
        );
        let r = run_locally(&config);
        for metric in [
            "cpu.used_pct",
            "load.1",
            "load.5",
            "load.15",
            "mem.used_pct",
            "mem.total_bytes",
            "mem.available_bytes",
            "swap.used_pct",
            "disk./.used_pct",
            "uptime.seconds",
            "procs.count",
            "net.rx_bytes",
            "net.tx_bytes",
        ] {
            assert!(value(&r, metric).is_some(), "{metric} missing: {r:?}");
        }
        let cpu = value(&r, "cpu.used_pct").unwrap();
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        assert!(value(&r, "procs.count").unwrap() >= 1.0);
        assert_eq!(value(&r, "q"), Some(42.0));
        assert_eq!(value(&r, "kv.a"), Some(1.0));
        assert_eq!(value(&r, "kv.b"), Some(2.5));
        assert_eq!(value(&r, "j"), Some(7.0));
        assert_eq!(value(&r, "re"), Some(9.0));
        assert_eq!(value(&r, "bad"), None);
        assert!(
            r.warnings
                .iter()
                .any(|w| w == "collector bad: command exited 3"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn a_collector_with_a_syntax_error_fails_alone() {
        let mut config = config(
            "collectors:\n  - name: before\n    command: printf 1\n    parse: number\n  - name: after\n    command: printf 2\n    parse: number\n",
        );
        // What `sh -n` on the controller may not catch (another shell on
        // the host, a file edited since): a command that does not parse.
        config.collectors.insert(
            1,
            super::super::config::Collector {
                name: "broken".into(),
                command: "echo \"unclosed ) (".into(),
                parse: Parse::Number,
            },
        );
        let r = run_locally(&config);
        assert_eq!(value(&r, "before"), Some(1.0), "{r:?}");
        assert_eq!(value(&r, "after"), Some(2.0), "{r:?}");
        assert!(value(&r, "load.1").is_some(), "{r:?}");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("collector broken:")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn ping_and_tcp_summaries_are_read() {
        let iputils = "--- x ping statistics ---\n5 packets transmitted, 4 received, 20% packet loss, time 800ms\nrtt min/avg/max/mdev = 0.048/0.080/0.143/0.044 ms\n";
        assert_eq!(
            ping(iputils).unwrap(),
            [("loss_pct", 20.0), ("rtt_ms", 0.080), ("jitter_ms", 0.044)]
        );
        let all_lost = "5 packets transmitted, 0 received, 100% packet loss, time 4000ms\n";
        assert_eq!(ping(all_lost).unwrap(), [("loss_pct", 100.0)]);
        assert!(ping("noping").is_err());
        let ms = tcp_connect_ms("1795321264.329652 1795321264.331152").unwrap();
        assert!((ms - 1.5).abs() < 1e-3, "{ms}");
        assert!(tcp_connect_ms("fail").is_err());
    }

    #[test]
    fn df_skips_virtual_filesystems_and_keeps_mounts_with_spaces() {
        let df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                  devtmpfs 100 0 100 0% /dev\n\
                  tmpfs 100 50 50 50% /dev/shm\n\
                  /dev/vda 1000 250 750 25% /\n\
                  /dev/vdb 1000 500 500 50% /mnt/my data\n";
        assert_eq!(
            disks(df),
            [("/".to_string(), 25.0), ("/mnt/my data".to_string(), 50.0)]
        );
    }
}
