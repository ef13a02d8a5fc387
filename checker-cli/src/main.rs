//! `checker`: see [`cli`] for the commands.

use std::process::ExitCode;

use clap::Parser;

// Parsing a history allocates and frees millions of small values (strings,
// lists); mimalloc does that markedly faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> ExitCode {
    ExitCode::from(cli::run(cli::Cli::parse()))
}
