//! `herd run`'s output while it runs and at its end: a progress bar on a
//! terminal, each host's block as it finishes (`--per-host`) or one JSON
//! line per host (`--format json`); at the end the folded results and the
//! recap (text only).

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use super::sink::Sink;
use super::text::{self, Recap, TextOptions};
use crate::engine::command::Event;
use crate::engine::{HostResult, HostStatus, RunOutcome};

/// How run output looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOutput {
    /// JSON lines instead of text.
    pub json: bool,
    /// Each host's block as it finishes instead of folded at the end.
    pub per_host: bool,
    /// A progress bar on standard error (text output to a terminal).
    pub progress: bool,
    /// ANSI colours, and whether the output is a terminal.
    pub text: TextOptions,
}

/// Prints a run's events to `out`, each host's block in one write.
pub struct RunPrinter<W: Write> {
    out: W,
    opts: RunOutput,
    bar: Option<indicatif::ProgressBar>,
    counts: HashMap<HostStatus, usize>,
}

impl<W: Write> RunPrinter<W> {
    /// A printer for a run on `hosts` hosts.
    pub fn new(out: W, opts: RunOutput, hosts: usize) -> Self {
        let bar = (opts.progress && !opts.json).then(|| {
            let bar = indicatif::ProgressBar::new(hosts as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        RunPrinter {
            out,
            opts,
            bar,
            counts: HashMap::new(),
        }
    }

    /// The end of the run: clears the progress bar; in text, the folded
    /// results (unless they were printed per host), the recap, and where
    /// to look next when not every host went well.
    pub fn summary(
        &mut self,
        results: &[HostResult],
        hosts: usize,
        elapsed: Duration,
        outcome: RunOutcome,
        run_id: impl std::fmt::Display,
    ) -> io::Result<()> {
        self.end_progress();
        if self.opts.json {
            return Ok(());
        }
        let mut out = Vec::new();
        let opts = TextOptions {
            per_host: false,
            ..self.opts.text
        };
        if !self.opts.per_host {
            text::write_results(&mut out, results, opts)?;
        }
        text::write_recap(&mut out, &Recap::new(results, hosts, elapsed), opts.color)?;
        if outcome != RunOutcome::Ok {
            writeln!(
                out,
                "run {run_id}: `herd runs show {run_id}` for details, `herd run --rerun-failed` to retry failed hosts"
            )?;
        }
        self.out.write_all(&out)?;
        self.out.flush()
    }

    /// Clears the progress bar (before a message on standard error).
    pub fn end_progress(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn finished(&mut self, result: &HostResult) -> io::Result<()> {
        *self.counts.entry(result.status).or_default() += 1;
        let mut block = Vec::new();
        if self.opts.json {
            super::json::write_line(&mut block, result)?;
        } else if self.opts.per_host {
            let opts = TextOptions {
                per_host: true,
                ..self.opts.text
            };
            text::write_results(&mut block, std::slice::from_ref(result), opts)?;
        }
        if !block.is_empty() {
            let out = &mut self.out;
            let mut write = || out.write_all(&block).and_then(|()| out.flush());
            match &self.bar {
                Some(bar) => bar.suspend(write)?,
                None => write()?,
            }
        }
        if let Some(bar) = &self.bar {
            let count = |s| self.counts.get(&s).copied().unwrap_or(0);
            bar.set_message(format!(
                "{} ok, {} failed, {} unreachable",
                count(HostStatus::Ok),
                count(HostStatus::Failed),
                count(HostStatus::Unreachable)
            ));
            bar.inc(1);
        }
        Ok(())
    }
}

impl<W: Write> Sink<Event> for RunPrinter<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::Started { host } => {
                tracing::debug!(host, "started");
                Ok(())
            }
            Event::Finished(result) => self.finished(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(host: &str, status: HostStatus, stdout: &str) -> HostResult {
        HostResult {
            exit_code: Some(0),
            stdout: stdout.into(),
            ..HostResult::without_output(host, status, None, Duration::from_millis(5))
        }
    }

    #[test]
    fn json_prints_a_line_per_host_as_it_finishes_and_no_summary() {
        let opts = RunOutput {
            json: true,
            ..RunOutput::default()
        };
        let mut printer = RunPrinter::new(Vec::new(), opts, 2);
        let results = [
            result("web1", HostStatus::Ok, "up\n"),
            result("web2", HostStatus::Ok, "up\n"),
        ];
        for r in &results {
            printer.event(&Event::Finished(r.clone())).unwrap();
        }
        printer
            .summary(&results, 2, Duration::ZERO, RunOutcome::Ok, 7)
            .unwrap();
        let text = String::from_utf8(printer.out).unwrap();
        let hosts: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["host"].to_string())
            .collect();
        assert_eq!(hosts, ["\"web1\"", "\"web2\""]);
    }

    #[test]
    fn text_folds_identical_hosts_at_the_end_and_points_at_failures() {
        let mut printer = RunPrinter::new(Vec::new(), RunOutput::default(), 3);
        let mut failed = result("db1", HostStatus::Failed, "");
        failed.exit_code = Some(3);
        let results = [
            result("web1", HostStatus::Ok, "up\n"),
            result("web2", HostStatus::Ok, "up\n"),
            failed,
        ];
        for r in &results {
            printer.event(&Event::Finished(r.clone())).unwrap();
        }
        assert!(printer.out.is_empty(), "folded output waits for the end");
        printer
            .summary(&results, 3, Duration::ZERO, RunOutcome::Failed, 7)
            .unwrap();
        let text = String::from_utf8(printer.out).unwrap();
        assert!(text.contains("web[1-2] (2)"), "{text}");
        assert!(text.contains("run 7: `herd runs show 7`"), "{text}");
    }
}
