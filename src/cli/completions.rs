//! `herd completions SHELL`: prints a completion script for the shell.

use clap::CommandFactory;

use crate::exit;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: clap_complete::Shell,
}

pub fn execute(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "herd", &mut std::io::stdout());
    Ok(exit::OK)
}
