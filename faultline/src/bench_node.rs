//! `faultline bench-node`: the node benchmark on a local three-node raftkv
//! cluster on loopback (fsync on, 100-byte values, closed-loop clients at
//! each count; writes, then linearizable reads). Each point is one
//! `raftkv bench` run, which prints one JSON line.
//!
//! The sweep runs twice in one go, so each is measured against its peer in
//! the same run: first with mutual TLS (as the rig runs nodes), then
//! plaintext. `--lossy-fs` adds a third sweep, TLS with each data dir on a
//! lossyfs mount (what the power-failure and full-disk faults need), and
//! tags every line `data_dirs=plain|lossyfs`. The cluster's processes and
//! mounts go on every way out, Ctrl-C included.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::run::{Bins, BROKEN};

/// `faultline bench-node`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchNodeOptions {
    /// How long each point runs.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// The client counts, one point each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub clients: Vec<u32>,
    /// Add a sweep with the data dirs on lossyfs (mounting needs root).
    #[arg(long)]
    pub lossy_fs: bool,
    /// Check the options, list the sweeps, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const PORTS: [u16; 3] = [27101, 27102, 27103];

/// A running local cluster: its nodes and mounts, stopped and unmounted
/// when dropped.
struct Cluster {
    nodes: Vec<Child>,
    /// The lossyfs daemons, and their mount points.
    filesystems: Vec<Child>,
    mounts: Vec<PathBuf>,
    lossyfs: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes first, so that nothing holds a mount open.
        for c in &mut self.nodes {
            let _ = c.start_kill();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.nodes.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        for m in &self.mounts {
            let unmounted = std::process::Command::new(&self.lossyfs)
                .arg("unmount")
                .arg("--socket")
                .arg(m.with_extension("sock"))
                .output()
                .is_ok_and(|o| o.status.success());
            if !unmounted {
                let _ = std::process::Command::new("umount").arg("-l").arg(m).status();
            }
        }
        for c in &mut self.filesystems {
            let _ = c.start_kill();
        }
    }
}

fn endpoints() -> String {
    PORTS.map(|p| format!("127.0.0.1:{p}")).join(",")
}

/// Runs `program` to its end: whether it succeeded.
async fn succeeds(program: &Path, args: &[String]) -> bool {
    let status = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    status.is_ok_and(|s| s.success())
}

/// One sweep on a fresh cluster under `dir`: every point's JSON line on
/// stdout.
async fn sweep(o: &BenchNodeOptions, bins: &Bins, dir: &Path, tls: bool, lossy: bool) -> Result<(), String> {
    let (raftkv, lossyfs) = (bins.path("raftkv"), bins.path("lossyfs"));
    let mut cluster =
        Cluster { nodes: Vec::new(), filesystems: Vec::new(), mounts: Vec::new(), lossyfs: lossyfs.clone() };
    let label = format!("{}-{}", if lossy { "lossyfs" } else { "plain" }, if tls { "tls" } else { "plaintext" });
    let peers: Vec<String> = PORTS.iter().enumerate().map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1)).collect();
    for i in 1..=3 {
        let data = dir.join(&label).join(format!("n{i}"));
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        if lossy {
            let backing = data.with_extension("disk");
            std::fs::create_dir_all(&backing).map_err(|e| format!("{}: {e}", backing.display()))?;
            let log = std::fs::File::create(data.with_extension("fs.log")).map_err(|e| e.to_string())?;
            let child = Command::new(&lossyfs)
                .args(["mount", "--backing", &backing.display().to_string()])
                .args(["--mountpoint", &data.display().to_string()])
                .args(["--socket", &data.with_extension("sock").display().to_string()])
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("lossyfs did not start: {e}"))?;
            cluster.filesystems.push(child);
            cluster.mounts.push(data.clone());
            let status = ["status".to_string(), "--socket".into(), data.with_extension("sock").display().to_string()];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !succeeds(&lossyfs, &status).await {
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("lossyfs did not mount over {} within 10 s", data.display()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let log = std::fs::File::create(data.with_extension("log")).map_err(|e| e.to_string())?;
        let mut serve = Command::new(&raftkv);
        serve.args(["serve", "--id", &i.to_string(), "--peers", &peers.join(",")]).args([
            "--data-dir",
            &data.display().to_string(),
            "--log-level",
            "warn",
        ]);
        if tls {
            serve.arg("--tls-dir").arg(dir.join("tls").join(format!("n{i}")));
        } else {
            serve.arg("--insecure");
        }
        let child = serve
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("raftkv did not start: {e}"))?;
        cluster.nodes.push(child);
    }
    let mut client = vec!["--endpoints".to_string(), endpoints()];
    if tls {
        client.extend(["--tls-ca".into(), dir.join("tls/ca.pem").display().to_string()]);
    }
    // Until a leader serves writes (bounded).
    let warmup: Vec<String> = ["put".to_string()]
        .into_iter()
        .chain(client.iter().cloned())
        .chain(["--timeout", "1s", "bench-warmup", "x"].map(String::from))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !succeeds(&raftkv, &warmup).await {
        if tokio::time::Instant::now() > deadline {
            return Err("no leader within 30 s".into());
        }
    }
    for op in ["write", "read"] {
        for c in &o.clients {
            let mut bench = Command::new(&raftkv);
            bench.arg("bench").args(&client).args([
                "--op",
                op,
                "--clients",
                &c.to_string(),
                "--duration",
                &o.duration,
                "--value-size",
                "100",
            ]);
            if o.lossy_fs {
                bench.args(["--tag", if lossy { "data_dirs=lossyfs" } else { "data_dirs=plain" }]);
            }
            // Its JSON line goes straight to our stdout.
            let status = bench.status().await.map_err(|e| format!("raftkv bench did not start: {e}"))?;
            if !status.success() {
                return Err(format!("raftkv bench --op {op} --clients {c} failed ({status})"));
            }
        }
    }
    Ok(())
}

/// Runs the sweeps: 0, or 3 when the benchmark itself failed.
pub async fn main(o: BenchNodeOptions) -> u8 {
    if o.lossy_fs && crate::run::require_root().is_err() {
        eprintln!("bench-node: --lossy-fs mounts FUSE filesystems; run it as root");
        return BROKEN;
    }
    if o.clients.is_empty() || o.clients.contains(&0) {
        eprintln!("bench-node: --clients {:?}: give client counts of at least 1, such as 1,16,64", o.clients);
        return BROKEN;
    }
    if let Err(e) = flags::duration(&o.duration) {
        eprintln!("bench-node: --duration {}: {e}", o.duration);
        return BROKEN;
    }
    if o.dry_run {
        let sweeps = if o.lossy_fs { "TLS, plaintext, TLS on lossyfs" } else { "TLS, plaintext" };
        println!("bench-node: {sweeps}; writes then reads at {:?} clients, {} each", o.clients, o.duration);
        return 0;
    }
    let bins = match Bins::find() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench-node: {e}");
            return BROKEN;
        }
    };
    let dir = match tempfile::Builder::new().prefix("raftkv-bench.").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench-node: no scratch folder: {e}");
            return BROKEN;
        }
    };
    let nodes: Vec<_> = (1..=3u64).map(|i| (cluster::NodeId(i), format!("n{i}"))).collect();
    if let Err(e) = certs::Authority::new("bench-node").and_then(|ca| ca.write_cluster(&dir.path().join("tls"), &nodes))
    {
        eprintln!("bench-node: certificates: {e}");
        return BROKEN;
    }
    let mut sweeps = vec![(true, false), (false, false)];
    if o.lossy_fs {
        sweeps.push((true, true));
    }
    for (tls, lossy) in sweeps {
        let done = tokio::select! {
            r = sweep(&o, &bins, dir.path(), tls, lossy) => r,
            () = crate::interrupt::wait() => Err("interrupted".into()),
        };
        if let Err(e) = done {
            eprintln!("bench-node: {e}");
            return BROKEN;
        }
    }
    0
}
