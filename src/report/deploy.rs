//! `herd deploy`'s output per batch: each host's result and the steps it
//! took, as text or JSON lines.

use std::io::{self, Write};

use super::escape::for_terminal;
use crate::deploy::{Ended, HostEnd};
use crate::engine::HostResult;
use crate::release::{self, StepKind};

/// Each host of a batch: its result and the steps it took, as a line of
/// text (escaped on a terminal) or a JSON object.
pub fn print_batch(
    out: &mut impl Write,
    json: bool,
    terminal: bool,
    ended: &[Ended],
    results: &[HostResult],
) -> io::Result<()> {
    for ((host, end, steps), result) in ended.iter().zip(results) {
        let report = match end {
            HostEnd::Report(r, _, _) => Some(r),
            _ => None,
        };
        if json {
            let line = serde_json::json!({
                "host": host,
                "status": result.status,
                "release": report.map(|r| r.status),
                "before": report.and_then(|r| r.before.clone()),
                "now": report.and_then(|r| r.now.clone()),
                "uploaded": report.and_then(|r| r.uploaded),
                "message": result.error.clone().unwrap_or_else(|| result.stdout.clone()),
                "steps": steps,
            });
            writeln!(out, "{line}")?;
        } else {
            let text = result.error.as_deref().unwrap_or(&result.stdout);
            let trail: Vec<String> = steps
                .iter()
                .map(|s| {
                    let took = release::host::secs(s.duration);
                    match (&s.detail, s.kind) {
                        (Some(d), StepKind::Uploaded | StepKind::Pruned) => {
                            format!("{} {took} ({d})", s.kind.as_str())
                        }
                        _ => format!("{} {took}", s.kind.as_str()),
                    }
                })
                .collect();
            let text = for_terminal(text, terminal);
            writeln!(out, "  {host}: {text}")?;
            if !trail.is_empty() {
                writeln!(out, "    steps: {}", trail.join(", "))?;
            }
        }
    }
    Ok(())
}
