//! `mock-kv`: serves an in-memory Kv (correct, or broken on purpose) until
//! killed; the recorder benchmark's server.

use std::process::ExitCode;

use clap::Parser;
use testkit::mock_kv::{self, Behaviour};

#[derive(Parser)]
#[command(name = "mock-kv", about = "An in-memory Kv server that answers at once, correct or broken on purpose")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:27200")]
    listen: std::net::SocketAddr,
    #[arg(long, value_enum, default_value_t = Behaviour::Correct)]
    behaviour: Behaviour,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(a.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mock-kv: cannot listen on {}: {e}", a.listen);
                return ExitCode::from(3);
            }
        };
        eprintln!("mock-kv ({:?}) on {}", a.behaviour, a.listen);
        match mock_kv::serve(listener, a.behaviour).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mock-kv: {e}");
                ExitCode::from(3)
            }
        }
    })
}
