//! Process exit codes, documented in the README. Scripts and cron jobs rely
//! on them, so they never change meaning.

/// Everything succeeded on every host.
pub const OK: u8 = 0;
/// herd itself failed (I/O error, store error, bug).
pub const ERROR: u8 = 1;
/// Bad input: command line, inventory, project file or pattern.
pub const BAD_INPUT: u8 = 2;
/// At least one host ran the command and it failed (non-zero exit, timeout).
pub const FAILED: u8 = 3;
/// At least one host could not be reached or authenticated.
pub const UNREACHABLE: u8 = 4;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
