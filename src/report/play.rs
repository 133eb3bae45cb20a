//! `herd play`'s output: a banner per play and task, hosts with the same
//! result folded on one line (`changed: web[1-3]`), diffs printed once per
//! distinct change, and a PLAY RECAP folding hosts with the same counts;
//! or, with `--format json`, one JSON object per event and a recap object.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use indexmap::IndexMap;

use super::escape::for_terminal;
use super::hostlist::compress;
use super::sink::Sink;
use crate::engine::HostResult;
use crate::engine::events::{HostStats, PlayEvent, TaskResult, TaskStatus};
use crate::playbook::{Action, Task};

/// How play output looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlayOutput {
    /// JSON lines instead of text.
    pub json: bool,
    /// Show file diffs (`--diff`).
    pub diff: bool,
    /// ANSI colours.
    pub color: bool,
    /// The output is a terminal: host text (messages, items, diffs) is
    /// escaped (see [`super::escape`]).
    pub terminal: bool,
}

/// Prints play events to `out`, each event in one write.
pub struct PlayPrinter<W: Write> {
    out: W,
    opts: PlayOutput,
    /// The task whose banner was printed last (its location): in a free
    /// play, hosts' events for different tasks interleave, so a result
    /// under another task's banner prints its own banner again.
    banner: Option<String>,
}

impl<W: Write> PlayPrinter<W> {
    pub fn new(out: W, opts: PlayOutput) -> Self {
        PlayPrinter {
            out,
            opts,
            banner: None,
        }
    }

    /// The PLAY RECAP: hosts with the same counts share a line.
    pub fn recap(
        &mut self,
        stats: &IndexMap<String, HostStats>,
        elapsed: Duration,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        if self.opts.json {
            let hosts: serde_json::Map<String, serde_json::Value> = stats
                .iter()
                .map(|(h, s)| (h.clone(), serde_json::to_value(s).unwrap_or_default()))
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"event": "recap", "hosts": hosts, "elapsed": elapsed.as_secs_f64()})
            )?;
            return self.emit(&out);
        }
        writeln!(out, "\n{}", banner("PLAY RECAP"))?;
        let mut same: IndexMap<HostStats, Vec<String>> = IndexMap::new();
        for (host, s) in stats {
            same.entry(*s).or_default().push(host.clone());
        }
        for (s, hosts) in same {
            let color = if s.failed > 0 || s.unreachable > 0 {
                "31"
            } else if s.changed > 0 {
                "33"
            } else {
                "32"
            };
            writeln!(
                out,
                "{} : {}",
                self.paint(color, &format!("{:<24}", compress(&hosts))),
                recap_counts(&s)
            )?;
        }
        writeln!(
            out,
            "({} hosts, {})",
            stats.len(),
            super::text::format_duration(elapsed)
        )?;
        self.emit(&out)
    }

    fn emit(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)?;
        self.out.flush()
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.opts.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Hosts with the same status, message and items share one line.
    fn write_results(&self, out: &mut impl Write, results: &[TaskResult]) -> io::Result<()> {
        let mut groups: BTreeMap<(TaskStatus, Option<String>, Vec<String>), Vec<String>> =
            BTreeMap::new();
        for r in results {
            groups
                .entry((r.status, r.msg.clone(), r.items.clone()))
                .or_default()
                .push(match &r.delegated_to {
                    // Ansible's `host -> delegate`.
                    Some(delegate) => format!("{} -> {delegate}", r.host),
                    None => r.host.clone(),
                });
        }
        for ((status, msg, items), hosts) in groups {
            let color = match status {
                TaskStatus::Ok => "32",
                TaskStatus::Changed => "33",
                TaskStatus::Skipped => "36",
                TaskStatus::Failed | TaskStatus::Unreachable => "31",
                TaskStatus::Ignored => "35",
            };
            let mut line = format!("{}: {}", status.as_str(), compress(&hosts));
            if !items.is_empty() {
                line.push_str(&format!(" (items: {})", items.join(", ")));
            }
            if let Some(msg) = msg {
                line.push_str(&format!(" => {msg}"));
            }
            let line = for_terminal(&line, self.opts.terminal);
            writeln!(out, "{}", self.paint(color, &line))?;
        }
        if self.opts.diff {
            // Identical diffs (same file, same change) are printed once.
            let mut diffs: IndexMap<String, Vec<String>> = IndexMap::new();
            for r in results {
                for d in &r.diffs {
                    diffs
                        .entry(crate::modules::diff::unified(d))
                        .or_default()
                        .push(r.host.clone());
                }
            }
            for (text, hosts) in diffs {
                writeln!(out, "--- {} ---", compress(&hosts))?;
                write!(out, "{}", for_terminal(&text, self.opts.terminal))?;
            }
        }
        Ok(())
    }
}

impl<W: Write> PlayPrinter<W> {
    /// `TASK [name]`, unless it is the banner printed last.
    fn task_banner(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        location: &str,
        handler: bool,
    ) -> io::Result<()> {
        if self.banner.as_deref() == Some(location) {
            return Ok(());
        }
        self.banner = Some(location.to_string());
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        writeln!(out, "\n{}", banner(&format!("{kind} [{name}]")))
    }
}

impl<W: Write> Sink<PlayEvent> for PlayPrinter<W> {
    fn event(&mut self, event: &PlayEvent) -> io::Result<()> {
        let mut out = Vec::new();
        if self.opts.json {
            serde_json::to_writer(&mut out, event)?;
            writeln!(out)?;
            return self.emit(&out);
        }
        match event {
            PlayEvent::PlayStart { name, hosts } => writeln!(
                out,
                "\n{}",
                banner(&format!("PLAY [{name}] ({} hosts)", hosts.len()))
            )?,
            PlayEvent::TaskStart {
                name,
                location,
                handler,
                ..
            } => self.task_banner(&mut out, name, location, *handler)?,
            PlayEvent::TaskDone {
                name,
                location,
                handler,
                results,
            } => {
                self.task_banner(&mut out, name, location, *handler)?;
                self.write_results(&mut out, results)?
            }
            PlayEvent::PlayAborted { reason, .. } => writeln!(
                out,
                "\n{}",
                self.paint("31", &format!("PLAY ABORTED: {reason}"))
            )?,
        }
        self.emit(&out)
    }
}

/// A host's recap counts, as Ansible prints them (also what the store
/// keeps as a play host's output).
pub fn recap_counts(s: &HostStats) -> String {
    format!(
        "ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}",
        s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
    )
}

/// One row per host for the store's host_results: the recap counts. After
/// Ctrl-C, a host that had not failed is recorded as interrupted (its play
/// did not finish), as `herd run` and the other commands do.
pub fn recap_results(stats: &IndexMap<String, HostStats>, interrupted: bool) -> Vec<HostResult> {
    stats
        .iter()
        .map(|(host, s)| HostResult {
            host: host.clone(),
            status: s.status(interrupted),
            exit_code: None,
            stdout: recap_counts(s),
            stderr: String::new(),
            truncated: false,
            error: None,
            duration: Duration::ZERO,
        })
        .collect()
}

/// `--list-tasks`: each task's name (and tags), blocks flattened.
pub fn write_task_list(out: &mut impl Write, tasks: &[Task], indent: usize) -> io::Result<()> {
    for task in tasks {
        match &task.action {
            Action::Block {
                block,
                rescue,
                always,
            } => {
                write_task_list(out, block, indent)?;
                write_task_list(out, rescue, indent)?;
                write_task_list(out, always, indent)?;
            }
            _ => {
                let tags = if task.tags.is_empty() {
                    String::new()
                } else {
                    format!("\tTAGS: [{}]", task.tags.join(", "))
                };
                writeln!(out, "{:indent$}{}{tags}", "", task.display_name())?;
            }
        }
    }
    Ok(())
}

/// `TASK [name] ******` padded to 79 columns, as Ansible prints.
fn banner(title: &str) -> String {
    let stars = 79usize.saturating_sub(title.len() + 1).max(3);
    format!("{title} {}", "*".repeat(stars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(host: &str, status: TaskStatus, msg: Option<&str>) -> TaskResult {
        TaskResult {
            host: host.into(),
            status,
            msg: msg.map(String::from),
            diffs: Vec::new(),
            items: Vec::new(),
            delegated_to: None,
            duration_ms: 1,
        }
    }

    fn shown(opts: PlayOutput, events: &[PlayEvent]) -> String {
        let mut printer = PlayPrinter::new(Vec::new(), opts);
        for event in events {
            printer.event(event).unwrap();
        }
        String::from_utf8(printer.out).unwrap()
    }

    #[test]
    fn hosts_with_the_same_result_share_a_line_under_the_task_banner() {
        let text = shown(
            PlayOutput::default(),
            &[
                PlayEvent::TaskStart {
                    name: "install".into(),
                    location: "site.yml:3:7".into(),
                    module: "copy".into(),
                    handler: false,
                },
                PlayEvent::TaskDone {
                    name: "install".into(),
                    location: "site.yml:3:7".into(),
                    handler: false,
                    results: vec![
                        result("web1", TaskStatus::Changed, None),
                        result("web2", TaskStatus::Changed, None),
                        result("db1", TaskStatus::Failed, Some("boom")),
                    ],
                },
            ],
        );
        assert!(text.starts_with("\nTASK [install] ****"), "{text}");
        assert!(text.contains("\nchanged: web[1-2]\n"), "{text}");
        assert!(text.contains("\nfailed: db1 => boom\n"), "{text}");
        assert!(!text.contains('\x1b'), "no colour unless asked: {text}");
    }

    #[test]
    fn json_output_is_one_object_per_event() {
        let text = shown(
            PlayOutput {
                json: true,
                ..PlayOutput::default()
            },
            &[PlayEvent::PlayAborted {
                name: "p".into(),
                reason: "why".into(),
            }],
        );
        let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(value["event"], "play_aborted");
        assert_eq!(value["reason"], "why");
    }
}
