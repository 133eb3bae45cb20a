//! Is the herd process that started a run still alive?
//!
//! A herd killed by SIGKILL or a power cut leaves its run marked "running".
//! The pid alone is not proof of life: pids are reused, so on Linux the
//! process start time (field 22 of /proc/PID/stat) is recorded too and must
//! match. Elsewhere only `kill(pid, 0)` is checked.

/// The start time of process `pid` in clock ticks since boot, when the
/// platform tells (Linux).
pub fn process_start(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ..." where comm may contain spaces and parens:
    // the fields after the last ')' start at field 3 (state).
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that recorded (`pid`, `start`) still runs.
pub fn is_alive(pid: i64, start: Option<i64>) -> bool {
    let Ok(pid) = u32::try_from(pid) else {
        return false;
    };
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = unsafe { libc::kill(raw, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match (start, process_start(pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        let me = std::process::id();
        assert!(is_alive(me.into(), process_start(me)));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid.into(), None));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reused_pid_is_not_the_recorded_process() {
        let me = std::process::id();
        let start = process_start(me).unwrap();
        assert!(!is_alive(me.into(), Some(start + 1)));
    }
}
