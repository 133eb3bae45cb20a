//! The `herd` binary: parse arguments, hand them to the library, map the
//! outcome to a documented exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    herd::cli::main()
}
