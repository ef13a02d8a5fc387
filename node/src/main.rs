use std::process::ExitCode;

/// mimalloc rather than the system allocator: requests, Raft messages and
/// log entries are many small allocations freed on other threads, which
/// glibc's allocator serves slowly (docs/node.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use raftkv::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Serve(args) => usize::from(args.worker_threads),
        _ => 1,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("raftkv: no async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            if let Err(e) = raftkv::logging::init(args.log_format, &args.log_level, args.log_color) {
                eprintln!("raftkv: {e:#}");
                return ExitCode::from(2);
            }
            die_on_panic();
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

/// Any panic, in any thread (the Raft loop, a transport or server task),
/// ends the node at once with exit code 2 and a log line saying where: a
/// node with a dead thread must not stay up half-working, and tokio would
/// otherwise swallow a task's panic. The default hook still prints it.
fn die_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        tracing::error!(thread, "panic: {info}; the node stops");
        std::process::exit(2);
    }));
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
