//! Human output of a run: hosts with identical results folded under one
//! header (or each host on its own with `--per-host`), then a one-line
//! recap. The caller decides about colour (herd's CLI: `--color`, NO_COLOR).
//!
//! ```text
//! ---------------- web[01-03] (3) ----------------
//! active
//! ---------------- db1 ----------------
//! [unreachable: connection refused]
//! 3 ok, 0 failed, 1 unreachable (4 hosts, 2.31s)
//! ```

use std::io::{self, Write};
use std::time::Duration;

use super::escape::for_terminal;
use super::fold::{Group, fold, status_rank};
use super::hostlist::{compress, natural_cmp};
use crate::engine::{HostResult, HostStatus};

/// How to print results.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// ANSI colours on headers, status lines and the recap.
    pub color: bool,
    /// One section per host instead of folding identical results.
    pub per_host: bool,
    /// The output goes to a terminal: control characters in host output
    /// are escaped (see [`super::escape`]).
    pub terminal: bool,
}

const RULE: &str = "----------------";

/// Writes every result (folded or per host) followed by the recap.
/// `hosts` is how many hosts the run targeted; hosts without a result
/// (a run cut short) are counted in the recap.
pub fn write_run(
    out: &mut impl Write,
    results: &[HostResult],
    hosts: usize,
    elapsed: Duration,
    opts: TextOptions,
) -> io::Result<()> {
    write_results(out, results, opts)?;
    write_recap(out, &Recap::new(results, hosts, elapsed), opts.color)
}

/// Writes the results, folded unless `opts.per_host`. Groups and hosts come
/// in the order of [`fold`]: ok first, problems last.
pub fn write_results(
    out: &mut impl Write,
    results: &[HostResult],
    opts: TextOptions,
) -> io::Result<()> {
    if opts.per_host {
        let mut sorted: Vec<&HostResult> = results.iter().collect();
        sorted.sort_by(|a, b| {
            status_rank(a.status)
                .cmp(&status_rank(b.status))
                .then_with(|| natural_cmp(&a.host, &b.host))
        });
        for r in sorted {
            write_group(out, &Group::of(r), opts)?;
        }
    } else {
        for group in fold(results) {
            write_group(out, &group, opts)?;
        }
    }
    Ok(())
}

fn write_group(out: &mut impl Write, group: &Group<'_>, opts: TextOptions) -> io::Result<()> {
    let color = opts.color;
    let names: Vec<String> = group.hosts.iter().map(|h| h.to_string()).collect();
    let mut title = compress(&names);
    if names.len() > 1 {
        title.push_str(&format!(" ({})", names.len()));
    }
    let paint = Paint::new(color, status_color(group.status));
    writeln!(out, "{}", paint.apply(&format!("{RULE} {title} {RULE}")))?;
    for text in [group.stdout, group.stderr] {
        out.write_all(for_terminal(text, opts.terminal).as_bytes())?;
        if !text.is_empty() && !text.ends_with('\n') {
            writeln!(out)?;
        }
    }
    if let Some(line) = status_line(group.status, group.exit_code, group.error) {
        let line = for_terminal(&line, opts.terminal);
        writeln!(out, "{}", paint.apply(&line))?;
    }
    Ok(())
}

/// `[exit 2]`, `[unreachable: connection refused]`, ...; nothing for ok.
pub fn status_line(
    status: HostStatus,
    exit_code: Option<i32>,
    error: Option<&str>,
) -> Option<String> {
    let what = match (status, exit_code) {
        (HostStatus::Ok, _) => return None,
        (HostStatus::Failed, Some(code)) => format!("exit {code}"),
        (status, _) => status.as_str().to_string(),
    };
    Some(match error {
        Some(error) => format!("[{what}: {error}]"),
        None => format!("[{what}]"),
    })
}

/// Counts for the last line of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recap {
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub interrupted: usize,
    /// Hosts the run targeted.
    pub hosts: usize,
    pub elapsed: Duration,
}

impl Recap {
    pub fn new(results: &[HostResult], hosts: usize, elapsed: Duration) -> Recap {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        Recap {
            ok: count(HostStatus::Ok),
            failed: count(HostStatus::Failed),
            unreachable: count(HostStatus::Unreachable),
            interrupted: count(HostStatus::Interrupted),
            hosts: hosts.max(results.len()),
            elapsed,
        }
    }
}

/// `3 ok, 1 failed, 1 unreachable (5 hosts, 2.31s)`. Interrupted hosts and
/// hosts without any result are mentioned only when there are some.
pub fn write_recap(out: &mut impl Write, recap: &Recap, color: bool) -> io::Result<()> {
    let missing = recap
        .hosts
        .saturating_sub(recap.ok + recap.failed + recap.unreachable + recap.interrupted);
    let mut parts = vec![
        count_part(recap.ok, "ok", GREEN, color),
        count_part(recap.failed, "failed", RED, color),
        count_part(recap.unreachable, "unreachable", YELLOW, color),
    ];
    if recap.interrupted > 0 {
        parts.push(count_part(recap.interrupted, "interrupted", MAGENTA, color));
    }
    if missing > 0 {
        parts.push(format!("{missing} without result"));
    }
    let plural = if recap.hosts == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} ({} host{plural}, {})",
        parts.join(", "),
        recap.hosts,
        format_duration(recap.elapsed)
    )
}

fn count_part(n: usize, what: &str, code: &'static str, color: bool) -> String {
    Paint::new(color && n > 0, code).apply(&format!("{n} {what}"))
}

/// `0.84s`, `2m05s`, `1h03m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.2}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    }
}

pub const GREEN: &str = "\x1b[32m";
pub const RED: &str = "\x1b[31m";
pub const YELLOW: &str = "\x1b[33m";
pub const MAGENTA: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// The colour herd uses for a status.
pub fn status_color(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Ok => GREEN,
        HostStatus::Failed => RED,
        HostStatus::Unreachable => YELLOW,
        HostStatus::Interrupted => MAGENTA,
    }
}

/// Wraps text in an ANSI colour when colour is on.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    code: Option<&'static str>,
}

impl Paint {
    pub fn new(on: bool, code: &'static str) -> Paint {
        Paint {
            code: on.then_some(code),
        }
    }

    pub fn apply(self, text: &str) -> String {
        match self.code {
            Some(code) => format!("{code}{text}{RESET}"),
            None => text.to_string(),
        }
    }
}

/// Unix milliseconds as local wall-clock time.
pub fn local_time(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => format!("@{ms}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(
        host: &str,
        status: HostStatus,
        code: Option<i32>,
        out: &str,
        error: Option<&str>,
    ) -> HostResult {
        let error = error.map(Into::into);
        HostResult {
            exit_code: code,
            stdout: out.into(),
            ..HostResult::without_output(host, status, error, Duration::from_millis(100))
        }
    }

    fn sample() -> Vec<HostResult> {
        let mut warned = r("web03", HostStatus::Failed, Some(2), "", None);
        warned.stderr = "nginx: config error".into();
        vec![
            r(
                "db1",
                HostStatus::Unreachable,
                None,
                "",
                Some("connection refused"),
            ),
            r("web02", HostStatus::Ok, Some(0), "active\n", None),
            r("web01", HostStatus::Ok, Some(0), "active\n", None),
            warned,
            r("web04", HostStatus::Ok, Some(0), "active\n", None),
        ]
    }

    fn render(results: &[HostResult], hosts: usize, opts: TextOptions) -> String {
        let mut out = Vec::new();
        write_run(&mut out, results, hosts, Duration::from_millis(2314), opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn folded_output_groups_identical_hosts_and_ends_with_a_recap() {
        assert_eq!(
            render(&sample(), 5, TextOptions::default()),
            "---------------- web[01-02,04] (3) ----------------\n\
             active\n\
             ---------------- web03 ----------------\n\
             nginx: config error\n\
             [exit 2]\n\
             ---------------- db1 ----------------\n\
             [unreachable: connection refused]\n\
             3 ok, 1 failed, 1 unreachable (5 hosts, 2.31s)\n"
        );
    }

    #[test]
    fn per_host_output_gives_every_host_its_own_section() {
        assert_eq!(
            render(
                &sample()[..3],
                3,
                TextOptions {
                    per_host: true,
                    ..TextOptions::default()
                }
            ),
            "---------------- web01 ----------------\n\
             active\n\
             ---------------- web02 ----------------\n\
             active\n\
             ---------------- db1 ----------------\n\
             [unreachable: connection refused]\n\
             2 ok, 0 failed, 1 unreachable (3 hosts, 2.31s)\n"
        );
    }

    #[test]
    fn host_output_cannot_drive_a_terminal() {
        let results = [r(
            "web1",
            HostStatus::Failed,
            Some(1),
            "\x1b]0;owned\x07fine\rhidden\n",
            None,
        )];
        let terminal = TextOptions {
            terminal: true,
            ..TextOptions::default()
        };
        assert_eq!(
            render(&results, 1, terminal),
            "---------------- web1 ----------------\n\
             \\x1b]0;owned\\x07fine\\rhidden\n\
             [exit 1]\n\
             0 ok, 1 failed, 0 unreachable (1 host, 2.31s)\n"
        );
        // Not a terminal: the text as the host sent it.
        let piped = render(&results, 1, TextOptions::default());
        assert!(
            piped.contains("\x1b]0;owned\x07fine\rhidden\n"),
            "{piped:?}"
        );
    }

    #[test]
    fn colour_marks_headers_status_lines_and_non_zero_counts() {
        let results = [r(
            "web1",
            HostStatus::Failed,
            None,
            "",
            Some("timed out after 10s"),
        )];
        assert_eq!(
            render(
                &results,
                1,
                TextOptions {
                    color: true,
                    ..TextOptions::default()
                }
            ),
            "\x1b[31m---------------- web1 ----------------\x1b[0m\n\
             \x1b[31m[failed: timed out after 10s]\x1b[0m\n\
             0 ok, \x1b[31m1 failed\x1b[0m, 0 unreachable (1 host, 2.31s)\n"
        );
    }

    #[test]
    fn recap_mentions_interrupted_hosts_and_hosts_without_result() {
        let results = [
            r("a", HostStatus::Ok, Some(0), "", None),
            r("b", HostStatus::Interrupted, None, "", None),
        ];
        assert_eq!(
            render(&results, 4, TextOptions::default()),
            "---------------- a ----------------\n\
             ---------------- b ----------------\n\
             [interrupted]\n\
             1 ok, 0 failed, 0 unreachable, 1 interrupted, 2 without result (4 hosts, 2.31s)\n"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(840)), "0.84s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(format_duration(Duration::from_secs(3780)), "1h03m");
    }
}
