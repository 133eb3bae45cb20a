//! `herd collect`'s output: what one collection did, for people (cron
//! mails it) or as one JSON object.

use std::io::{self, Write};

use super::hostlist::compress;
use crate::collect::Summary;

/// The text output: warnings, unreachable hosts, then one line of counts.
pub fn write_text(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    for warning in &s.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    for u in &s.unreachable {
        writeln!(out, "{}: UNREACHABLE: {}", u.host, u.error)?;
    }
    let down: Vec<String> = s.unreachable.iter().map(|u| u.host.clone()).collect();
    write!(
        out,
        "collection {}: {} samples from {} of {} hosts",
        s.collection, s.samples, s.reached, s.hosts
    )?;
    if !down.is_empty() {
        write!(out, "; {} unreachable ({})", down.len(), compress(&down))?;
    }
    writeln!(out)?;
    if let Some(r) = s.retention {
        writeln!(
            out,
            "retention: {} old samples deleted, {} merged into averages",
            r.deleted, r.merged
        )?;
    }
    Ok(())
}
