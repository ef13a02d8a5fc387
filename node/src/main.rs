use std::process::ExitCode;

use clap::Parser;
use raftkv::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            if let Err(e) = raftkv::logging::init(args.log_format, &args.log_level, args.log_color) {
                eprintln!("raftkv: {e:#}");
                return ExitCode::from(2);
            }
            match raftkv::node::serve(*args, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("raftkv: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        other => raftkv::cli::run_client(other).await,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
