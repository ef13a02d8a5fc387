use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = checker::cli::Cli::parse();
    ExitCode::from(checker::cli::run(cli))
}
