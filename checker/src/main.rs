use std::process::ExitCode;

use clap::Parser;

// Parsing a history allocates and frees millions of small values (strings,
// lists); mimalloc does that markedly faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = checker::cli::Cli::parse();
    ExitCode::from(checker::cli::run(cli))
}
