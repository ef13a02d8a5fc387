//! The `nemesis` command line: the local hosts, node lifecycle, single
//! faults for people, `heal`, `status`, and the scheduled `run`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::SeedableRng;

use crate::control::Control;
use crate::events::EventLog;
use crate::faults::{Cut, Fault, FaultKind, Target};
use crate::hosts::{Hosts, Subnet};
use crate::partition::Shape;
use crate::schedule_file::ScheduleFile;
use crate::scheduler::{self, Schedule};
use lossyfs::Loss;

/// Where the local hosts keep node files unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/tmp/faultline/hosts";

#[derive(Parser, Debug)]
#[command(
    name = "nemesis",
    version,
    about = "Faultline's fault injector: test hosts, node lifecycle, partitions, kills, pauses"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug)]
struct ClusterArg {
    /// The cluster description (cluster.json).
    #[arg(long, env = "FAULTLINE_CLUSTER")]
    cluster: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
struct HostsArgs {
    /// Name prefix of namespaces and links (1 to 8 letters or digits).
    #[arg(long, default_value = "fl")]
    prefix: String,
    /// The test subnet; the bridge takes .1 and node i takes .(10+i).
    #[arg(long, default_value = "10.77.0.0/24", value_parser = parse_subnet)]
    subnet: Subnet,
    /// The port every node serves on.
    #[arg(long, default_value_t = 7001)]
    port: u16,
    /// Where the nodes' binaries, data, logs and pid files live.
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
}

fn parse_subnet(s: &str) -> Result<Subnet, String> {
    s.parse().map_err(|e: crate::hosts::HostsError| e.to_string())
}

#[derive(Subcommand, Debug)]
enum HostsCmd {
    /// Creates the local test hosts (idempotent) and writes their cluster file.
    Up {
        #[command(flatten)]
        hosts: HostsArgs,
        /// Where to write the cluster description [default: STATE_DIR/cluster.json].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also run sshd in every host, with this login user (passwordless
        /// sudo) and a generated key, and describe the hosts as SSH hosts:
        /// the layout of Vagrant VMs, on this machine.
        #[arg(long)]
        ssh_user: Option<String>,
    },
    /// Removes the local test hosts and whatever runs in them (idempotent).
    Down {
        #[command(flatten)]
        hosts: HostsArgs,
    },
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The local test hosts: network namespaces on a bridge.
    Hosts {
        #[command(subcommand)]
        cmd: HostsCmd,
    },
    /// Validates a cluster file and writes a copy, optionally with extra
    /// `raftkv serve` flags for every node.
    Describe {
        #[command(flatten)]
        cluster: ClusterArg,
        /// Extra flags for every node, as one shell-quoted string.
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        node_args: String,
        /// Put each node's data dir on a lossyfs mount, which the
        /// lose-unsynced fault needs.
        #[arg(long)]
        lossy_fs: bool,
        /// Run each node under the clock shim, which the clock faults need.
        #[arg(long)]
        faked_clock: bool,
        /// The system the nodes run: raftkv, etcd or nats (plaintext; each
        /// node's binary becomes `etcd` or `nats` beside where raftkv's
        /// would be, and `nemesis install --binary` takes etcd's or
        /// nats-server's), or FILE.json, a system
        /// described by commands (docs/cluster-format.md; plaintext, its
        /// binary named after it).
        #[arg(long, default_value = "raftkv")]
        db: cluster::DbKind,
        /// Plaintext, with no peer authentication (`raftkv serve
        /// --insecure`), for benchmarks. Without it, a cluster file that
        /// names no certificates gets a fresh CA and one certificate per
        /// node, in `tls/` beside --out.
        #[arg(long)]
        insecure: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Issues a fresh CA and a certificate for each of nodes 1-3 into DIR:
    /// `DIR/ca.pem` for clients, `DIR/nN/` as node N's `raftkv serve
    /// --tls-dir`. For nodes run by hand or by a benchmark; `describe`
    /// issues a run's own.
    Certs {
        /// The folder (or give it as --out DIR).
        #[arg(value_name = "DIR", required_unless_present = "out", conflicts_with = "out")]
        dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Writes the description of three machines reached over SSH (as
    /// `vagrant ssh-config` describes them), in the standard layout.
    SshCluster {
        #[arg(long, default_value = "ssh")]
        name: String,
        /// The ssh config file; each node name is a Host in it.
        #[arg(long)]
        ssh_config: PathBuf,
        /// Login user (commands run through sudo -n unless it is root).
        #[arg(long)]
        user: String,
        /// n1=ADDRESS,n2=ADDRESS,n3=ADDRESS: the addresses the nodes serve on.
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<String>,
        #[arg(long, default_value_t = 7001)]
        port: u16,
        /// Where node files live on the machines (one folder per node).
        #[arg(long, default_value = "/var/lib/faultline")]
        base_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Copies a local raftkv binary to every node's binary path (and the
    /// helpers beside it that the cluster needs: lossyfs, the clock shim).
    Install {
        #[command(flatten)]
        cluster: ClusterArg,
        /// The node binary on this machine [default: a system described
        /// by commands names its own (db.binary); raftkv, etcd and nats need it].
        #[arg(long)]
        binary: Option<PathBuf>,
        /// The folder holding the helpers the cluster may need (lossyfs,
        /// libclockshim.so) [default: the folder of this nemesis].
        #[arg(long)]
        helpers: Option<PathBuf>,
    },
    /// Starts nodes (TARGET: a node name or id, one, leader, majority, all).
    Start(TargetArgs),
    /// Stops nodes gracefully; a heal leaves them stopped.
    Stop(TargetArgs),
    /// SIGKILLs nodes; a heal (or `start`) restarts them.
    Kill(TargetArgs),
    /// Kills nodes, then starts them again.
    Restart(TargetArgs),
    /// A power failure: SIGKILLs nodes and drops what each never fsynced
    /// (needs lossyfs data dirs); a heal (or `start`) restarts them.
    Lose {
        #[command(flatten)]
        target: TargetArgs,
        /// tail (everything unsynced) or torn (a seeded random part of it).
        #[arg(long, default_value = "tail")]
        loss: Loss,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// SIGSTOPs nodes.
    Pause(TargetArgs),
    /// SIGCONTs nodes.
    Resume(TargetArgs),
    /// Deletes the data dirs of stopped nodes.
    Wipe(TargetArgs),
    /// Cuts the network into a shape; replaces any partition in force.
    Partition {
        #[command(flatten)]
        cluster: ClusterArg,
        /// isolate-one, isolate-leader, halves, bridge, majorities-ring, one-way or deaf-leader.
        #[arg(long)]
        shape: Shape,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Removes partitions, resumes paused nodes, restarts killed nodes.
    Heal {
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Each node's process, role, term and leader, and every active fault.
    Status {
        #[command(flatten)]
        cluster: ClusterArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Copies every node's log into DIR as NAME.log.
    Logs {
        #[command(flatten)]
        cluster: ClusterArg,
        #[arg(long)]
        out: PathBuf,
    },
    /// Lists the fault families `run --faults` takes, or checks a list of
    /// them (exit 2 naming the unknown one).
    Faults {
        /// A comma-separated list to check, such as partition,kill.
        #[arg(long)]
        check: Option<String>,
        /// With --check: also refuse the faults this system cannot take.
        #[arg(long, default_value = "raftkv", requires = "check")]
        db: cluster::DbKind,
    },
    /// Injects random faults on a seeded schedule, then heals everything.
    Run {
        #[command(flatten)]
        cluster: ClusterArg,
        /// Comma-separated names from `nemesis faults`, or none. They are
        /// dealt in rounds: each kind once a round, in a shuffled order.
        #[arg(long, default_value = "partition,kill,pause")]
        faults: String,
        /// Mean time a fault is held, and between faults (each drawn from 0.5x to 1.5x).
        #[arg(long, default_value = "10s", value_parser = flags::duration)]
        interval: Duration,
        #[arg(long, default_value = "60s", value_parser = flags::duration)]
        duration: Duration,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Append events (JSON lines) to this file.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Replay this schedule (schedule.json) instead of dealing faults:
        /// each fault at its recorded offset, drawn again from its seeds.
        /// --faults, --interval and --seed are then unused.
        #[arg(long, conflicts_with = "faults")]
        schedule: Option<PathBuf>,
        /// Write the schedule as it runs to this file (schedule.json).
        #[arg(long)]
        schedule_out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct TargetArgs {
    /// A node name or id, or one, leader, majority, all.
    target: Target,
    #[command(flatten)]
    cluster: ClusterArg,
}

/// Runs the CLI; returns the exit code: 0 done, 1 failed (the error names
/// the node), 2 bad usage, 130/143 interrupted (after healing).
pub fn main() -> i32 {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nemesis: error: {e:#}");
            1
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Hosts { cmd: HostsCmd::Up { hosts, out, ssh_user } } => {
            let h = Hosts::new(&hosts.prefix, hosts.subnet, hosts.port, &hosts.state_dir)?;
            h.up()?;
            let cluster = match ssh_user {
                Some(user) => h.ssh_up(&user)?,
                None => h.cluster(),
            };
            let out = out.unwrap_or_else(|| hosts.state_dir.join("cluster.json"));
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            cluster.save(&out)?;
            println!("local test hosts up on {}; cluster file: {}", h.subnet, out.display());
            Ok(0)
        }
        Cmd::Hosts { cmd: HostsCmd::Down { hosts } } => {
            let h = Hosts::new(&hosts.prefix, hosts.subnet, hosts.port, &hosts.state_dir)?;
            h.down()?;
            println!("local test hosts down (the blackhole route for {} stays)", h.subnet);
            Ok(0)
        }
        Cmd::Describe { cluster, node_args, lossy_fs, faked_clock, db, insecure, out } => {
            let mut c = cluster::Cluster::load(&cluster.cluster)?;
            let extra =
                shlex::split(&node_args).with_context(|| format!("--node-args {node_args:?}: unbalanced quotes"))?;
            c.node_args.extend(extra);
            c.lossy_fs |= lossy_fs;
            c.faked_clock |= faked_clock;
            if db != cluster::DbKind::Raftkv {
                for n in &mut c.nodes {
                    n.binary = n.binary.with_file_name(db.name());
                }
                c.db = db;
            }
            if let cluster::DbKind::Command(d) = &mut c.db {
                // Absolute, so that the description holds wherever it is read.
                d.binary = std::fs::canonicalize(&d.binary)
                    .with_context(|| format!("db.binary {}: the program to install", d.binary.display()))?;
            }
            if insecure || !c.db.is_raftkv() {
                c.tls = None;
            } else if c.tls.is_none() {
                let base = out.parent().unwrap_or(Path::new("."));
                crate::tls::issue(&mut c, base)
                    .with_context(|| format!("certificates in {}", base.join(crate::tls::DIR).display()))?;
            }
            c.validate().map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            c.save(&out)?;
            println!("{}", out.display());
            Ok(0)
        }
        Cmd::Certs { dir, out } => {
            let out = dir.or(out).expect("clap requires DIR or --out");
            let nodes: Vec<_> =
                (1..=cluster::spec::CLUSTER_SIZE as u64).map(|i| (cluster::NodeId(i), format!("n{i}"))).collect();
            certs::Authority::new("by hand")?.write_cluster(&out, &nodes)?;
            println!("{}", out.display());
            Ok(0)
        }
        Cmd::SshCluster { name, ssh_config, user, nodes, port, base_dir, out } => {
            let nodes: Vec<(String, String)> = nodes
                .iter()
                .map(|n| {
                    n.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .with_context(|| format!("--nodes: {n:?} is not NAME=ADDRESS"))
                })
                .collect::<Result<_>>()?;
            // Relative to the cluster file, so the pair can move together.
            let out_dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
            let rel = ssh_config
                .canonicalize()
                .ok()
                .zip(out_dir.canonicalize().ok())
                .and_then(|(c, d)| c.strip_prefix(&d).ok().map(Path::to_path_buf))
                .unwrap_or(ssh_config.clone());
            let c = cluster::Cluster::over_ssh(&name, &nodes, port, &user, &rel, &base_dir);
            c.validate().map_err(anyhow::Error::msg)?;
            c.save(&out)?;
            println!("{}", out.display());
            Ok(0)
        }
        Cmd::Install { cluster, binary, helpers } => {
            let c = Control::load(&cluster.cluster)?;
            let binary = match (binary, &c.cluster.db) {
                (Some(b), _) => b,
                (None, cluster::DbKind::Command(db)) => db.binary.clone(),
                (None, db) => bail!("--binary: name the {} binary to install", db.name()),
            };
            let helpers = match helpers {
                Some(p) => p,
                None => std::env::current_exe()
                    .context("locating this nemesis binary")?
                    .parent()
                    .context("this nemesis binary has no folder")?
                    .to_path_buf(),
            };
            c.install(&binary, &helpers).await?;
            println!("installed {} on {}", binary.display(), c.names().join(", "));
            Ok(0)
        }
        Cmd::Start(t) => lifecycle(t, "started", |c, n| Box::pin(async move { c.start(&n).await })).await,
        Cmd::Stop(t) => lifecycle(t, "stopped", |c, n| Box::pin(async move { c.stop(&n).await })).await,
        Cmd::Kill(t) => lifecycle(t, "killed", |c, n| Box::pin(async move { c.kill(&n).await })).await,
        Cmd::Restart(t) => {
            lifecycle(t, "restarted", |c, n| {
                Box::pin(async move {
                    c.kill(&n).await?;
                    c.start(&n).await
                })
            })
            .await
        }
        Cmd::Lose { target, loss, seed } => {
            let c = Control::load(&target.cluster.cluster)?;
            let names = target.target.resolve(&c, &mut rand::rngs::StdRng::from_entropy()).await?;
            for (node, report) in c.lose(&names, loss, seed).await? {
                println!("{node} lost: {}", serde_json::to_string(&report)?);
            }
            Ok(0)
        }
        Cmd::Pause(t) => lifecycle(t, "paused", |c, n| Box::pin(async move { c.pause(&n).await })).await,
        Cmd::Resume(t) => lifecycle(t, "resumed", |c, n| Box::pin(async move { c.resume(&n).await })).await,
        Cmd::Wipe(t) => lifecycle(t, "wiped", |c, n| Box::pin(async move { c.wipe(&n).await })).await,
        Cmd::Partition { cluster, shape, seed } => {
            let c = Control::load(&cluster.cluster)?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.unwrap_or_else(rand::random));
            let applied = Cut(shape).apply(&c, &mut rng).await?;
            println!("{shape}: {}", applied.value()["grudge"]);
            Ok(0)
        }
        Cmd::Heal { cluster } => {
            let c = Control::load(&cluster.cluster)?;
            let report = c.heal().await;
            println!("{report}");
            Ok(if report.is_healed() { 0 } else { 1 })
        }
        Cmd::Status { cluster, json } => {
            let c = Control::load(&cluster.cluster)?;
            let status = c.status().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            Ok(0)
        }
        Cmd::Faults { check: Some(list), db } => {
            let unfit = |kinds: Vec<FaultKind>| kinds.into_iter().find_map(|k| k.unfit_for(&db).map(String::from));
            match FaultKind::parse_list(&list).map(unfit) {
                Ok(None) => Ok(0),
                Ok(Some(why)) | Err(why) => {
                    eprintln!("nemesis: --faults {list}: {why}");
                    Ok(2)
                }
            }
        }
        Cmd::Faults { check: None, .. } => {
            println!("{:<14} no faults at all", "none");
            for k in FaultKind::all() {
                println!("{:<14} {}", k.name(), k.about());
            }
            Ok(0)
        }
        Cmd::Logs { cluster, out } => {
            let c = Control::load(&cluster.cluster)?;
            fetch_logs(&c, &out).await?;
            println!("logs of {} in {}", c.names().join(", "), out.display());
            Ok(0)
        }
        Cmd::Run { cluster, faults, interval, duration, seed, events, schedule, schedule_out } => {
            let faults = FaultKind::parse_list(&faults).map_err(anyhow::Error::msg).context("--faults")?;
            if interval.is_zero() {
                bail!("--interval must be positive");
            }
            let c = Control::load(&cluster.cluster)?;
            let replay = match &schedule {
                Some(path) => Some(ScheduleFile::load(path, &c.cluster.db).context("--schedule")?),
                None => None,
            };
            let mut log = EventLog::open(events.as_deref()).with_context(|| {
                format!("opening events file {}", events.as_deref().unwrap_or(Path::new("")).display())
            })?;
            run_schedule(&c, Schedule { faults, interval, duration, seed, replay, record: schedule_out }, &mut log)
                .await
        }
    }
}

type Action<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::control::ControlError>> + 'a>>;

async fn lifecycle(
    t: TargetArgs,
    done: &str,
    act: impl for<'a> FnOnce(&'a Control, Vec<String>) -> Action<'a>,
) -> Result<i32> {
    let c = Control::load(&t.cluster.cluster)?;
    let names = t.target.resolve(&c, &mut rand::rngs::StdRng::from_entropy()).await?;
    act(&c, names.clone()).await?;
    println!("{done}: {}", names.join(", "));
    Ok(0)
}

/// `nemesis run`: the schedule and its heal, then what to say and exit with.
async fn run_schedule(c: &Control, schedule: Schedule, log: &mut EventLog) -> Result<i32> {
    let (ending, report) = scheduler::run_and_heal(c, &schedule, log).await.context("running the schedule")?;
    if let Some(why) = ending.why() {
        eprintln!("nemesis: {why}; healed");
    }
    if report.is_healed() {
        println!("{report}");
        Ok(ending.exit_code())
    } else {
        eprintln!("nemesis: {report}");
        Ok(1)
    }
}

async fn fetch_logs(c: &Control, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for n in &c.nodes {
        let text = n.fetch_log().await?;
        let path = out.join(format!("{}.log", n.name()));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_status(status: &[crate::control::NodeStatus]) {
    println!(
        "{:<6} {:<20} {:<8} {:<10} {:>5} {:<7} {:>8} {:>8}  faults",
        "node", "endpoint", "process", "role", "term", "leader", "commit", "applied"
    );
    let dash = || "-".to_string();
    for s in status {
        let process = match &s.process {
            Ok(p) => p.to_string(),
            Err(_) => "?".into(),
        };
        let mut faults = Vec::new();
        match &s.rules {
            Ok(r) => faults.extend(r.iter().map(|rule| rule.replace("-A FAULTLINE ", ""))),
            Err(e) => faults.push(format!("rules unknown: {e}")),
        }
        if let Err(e) = &s.process {
            faults.push(format!("process unknown: {e}"));
        }
        match &s.clock {
            Ok(Some(c)) if !crate::clock::is_true(c) => faults.push(format!("clock {c}")),
            Err(e) => faults.push(format!("clock unknown: {e}")),
            _ => {}
        }
        match &s.disk_full {
            Ok(true) => faults.push("disk full".into()),
            Err(e) => faults.push(format!("disk unknown: {e}")),
            Ok(false) => {}
        }
        println!(
            "{:<6} {:<20} {:<8} {:<10} {:>5} {:<7} {:>8} {:>8}  {}",
            s.name,
            s.endpoint,
            process,
            s.role.clone().unwrap_or_else(|| "unreachable".into()),
            s.term.map(|t| t.to_string()).unwrap_or_else(dash),
            s.leader.clone().unwrap_or_else(dash),
            s.commit.map(|t| t.to_string()).unwrap_or_else(dash),
            s.applied.map(|t| t.to_string()).unwrap_or_else(dash),
            if faults.is_empty() { "none".to_string() } else { faults.join("; ") },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_takes_its_folder_as_an_argument_or_as_out() {
        for args in [&["nemesis", "certs", "/tmp/c"][..], &["nemesis", "certs", "--out", "/tmp/c"][..]] {
            match Cli::try_parse_from(args).unwrap().cmd {
                Cmd::Certs { dir, out } => assert_eq!(dir.or(out), Some(PathBuf::from("/tmp/c")), "{args:?}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(Cli::try_parse_from(["nemesis", "certs"]).is_err());
        assert!(Cli::try_parse_from(["nemesis", "certs", "/a", "--out", "/b"]).is_err());
    }
}
