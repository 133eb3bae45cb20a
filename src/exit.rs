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

/// An error that decides which exit code it means: [`BAD_INPUT`] when the
/// admin can fix their input, [`ERROR`] when herd itself failed. Every
/// typed error that can reach the command line implements it, next to
/// its definition; the binary's edge asks each cause of a failure.
pub trait Code: std::error::Error {
    fn exit_code(&self) -> u8;
}

/// Implements [`Code`] for error types that are always bad input.
macro_rules! bad_input {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::exit::Code for $ty {
            fn exit_code(&self) -> u8 {
                $crate::exit::BAD_INPUT
            }
        })+
    };
}
pub(crate) use bad_input;
