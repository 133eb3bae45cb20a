//! Machine output: JSON lines, one object per host, for `jq` and scripts.
//! Field names are part of herd's interface: host, status, exit_code,
//! stdout, stderr, truncated (output past the capture limit was cut; the
//! text ends with a marker), error, duration (seconds). Output is the
//! host's text as sent (control characters JSON-escaped, never dropped).

use std::io::{self, Write};

use serde::Serialize;

use crate::engine::HostResult;

/// One line per host, in the order given.
pub fn write_results(out: &mut impl Write, results: &[HostResult]) -> io::Result<()> {
    results.iter().try_for_each(|r| write_line(out, r))
}

/// Any value as one line of JSON.
pub fn write_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::HostStatus;

    #[test]
    fn each_host_is_one_json_line() {
        let results = [
            HostResult {
                host: "web1".into(),
                status: HostStatus::Ok,
                exit_code: Some(0),
                stdout: "up\n".into(),
                stderr: String::new(),
                truncated: false,
                error: None,
                duration: Duration::from_millis(1234),
            },
            HostResult::without_output(
                "db1",
                HostStatus::Unreachable,
                Some("connection refused".into()),
                Duration::from_millis(5),
            ),
        ];
        let mut out = Vec::new();
        write_results(&mut out, &results).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"host\":\"web1\",\"status\":\"ok\",\"exit_code\":0,\"stdout\":\"up\\n\",\"stderr\":\"\",\"truncated\":false,\"error\":null,\"duration\":1.234}\n\
             {\"host\":\"db1\",\"status\":\"unreachable\",\"exit_code\":null,\"stdout\":\"\",\"stderr\":\"\",\"truncated\":false,\"error\":\"connection refused\",\"duration\":0.005}\n"
        );
    }
}
