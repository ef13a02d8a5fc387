use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use lossyfs::control::{self, Request, Response};
use lossyfs::Loss;

#[derive(Parser, Debug)]
#[command(
    name = "lossyfs",
    version,
    about = "A FUSE passthrough that can lose what was never fsynced, as a power failure would"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Mounts BACKING over MOUNTPOINT and serves the control socket until
    /// told to lose or unmount (runs in the foreground).
    Mount {
        #[arg(long)]
        backing: PathBuf,
        #[arg(long)]
        mountpoint: PathBuf,
        #[arg(long)]
        socket: PathBuf,
    },
    /// The power failure: the mount undoes what was never fsynced and
    /// unmounts. Kill every process using it first. Prints what was lost.
    Lose {
        #[arg(long)]
        socket: PathBuf,
        /// tail (everything unsynced) or torn (a seeded random part of it).
        #[arg(long, default_value = "tail")]
        loss: Loss,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// A clean unmount: nothing is lost.
    Unmount {
        #[arg(long)]
        socket: PathBuf,
    },
    /// Fills the disk: whatever needs new space fails with ENOSPC until
    /// `fill --free`.
    Fill {
        #[arg(long)]
        socket: PathBuf,
        /// Frees the disk again instead.
        #[arg(long)]
        free: bool,
    },
    /// How much is unsynced now.
    Status {
        #[arg(long)]
        socket: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (socket, req) = match cli.cmd {
        Cmd::Mount { backing, mountpoint, socket } => {
            lossyfs::daemon::run(&backing, &mountpoint, &socket)?;
            return Ok(());
        }
        Cmd::Lose { socket, loss, seed } => (socket, Request::Lose { loss, seed }),
        Cmd::Unmount { socket } => (socket, Request::Unmount),
        Cmd::Status { socket } => (socket, Request::Status),
        Cmd::Fill { socket, free } => (socket, Request::Fill { full: !free }),
    };
    match control::request(&socket, &req)? {
        Response::Error { message } => bail!("lossyfs: {message}"),
        answer => println!("{}", serde_json::to_string(&answer)?),
    }
    Ok(())
}
