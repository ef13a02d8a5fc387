//! `faultline bench-node`: the node benchmark on local three-node clusters
//! on loopback (fsync on, 100-byte values, closed-loop clients at each
//! count; writes, then linearizable reads), every point one JSON line.
//!
//! One run measures everything it compares, since absolute numbers drift
//! from day to day on these machines: first the fsync floor (what one
//! 4 KiB append and `fdatasync` costs on the disk the data dirs are on),
//! then raftkv with mutual TLS (as the rig runs it) and plaintext, with
//! `--lossy-fs` raftkv over TLS on lossyfs data dirs, and with
//! `--systems raftkv,etcd` etcd 3.4 (plaintext, as the rig runs it) under
//! the very same generator (`runner::bench`). A table of raftkv against
//! etcd closes the run. Each cluster's processes and mounts go on every
//! way out, Ctrl-C included.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use raftkv_client::stages::{StageReport, STAGE_REPORT_FILE};
use runner::bench::{BenchOp, BenchReport, BenchSpec};
use runner::store::StoreKind;
use tokio::process::{Child, Command};

use crate::run::{Bins, BROKEN};

/// `faultline bench-node`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchNodeOptions {
    /// How long each point runs.
    #[arg(long, default_value = "10s", value_parser = flags::duration)]
    pub duration: Duration,
    /// The client counts, one point each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub clients: Vec<usize>,
    /// The systems, comma-separated: raftkv, etcd (Debian's etcd-server,
    /// which scripts/bootstrap installs).
    #[arg(long, value_delimiter = ',', default_value = "raftkv")]
    pub systems: Vec<String>,
    /// Add a sweep of raftkv with the data dirs on lossyfs (mounting needs
    /// root).
    #[arg(long)]
    pub lossy_fs: bool,
    /// Time each stage of raftkv's writes inside the nodes (`raftkv serve
    /// --stage-timings`): after each raftkv write point, one JSON line per
    /// node says where the time went, and a table of the stages closes the
    /// run.
    #[arg(long)]
    pub stages: bool,
    /// Check the options, list the sweeps, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One sweep: a fresh cluster of one system, every point, then stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sweep {
    Raftkv { tls: bool, lossy: bool },
    Etcd,
}

impl Sweep {
    fn label(self) -> &'static str {
        match self {
            Sweep::Raftkv { tls: true, lossy: false } => "raftkv-tls",
            Sweep::Raftkv { tls: false, lossy: false } => "raftkv-plaintext",
            Sweep::Raftkv { lossy: true, .. } => "raftkv-tls-lossyfs",
            Sweep::Etcd => "etcd-plaintext",
        }
    }
}

/// Client ports of the three nodes; etcd's peers listen on the port after
/// each, as the rig runs it.
const PORTS: [u16; 3] = [27101, 27103, 27105];

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
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.nodes.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
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

fn endpoints() -> Vec<String> {
    PORTS.iter().map(|p| format!("127.0.0.1:{p}")).collect()
}

/// Runs `program` to its end: whether it succeeded.
async fn succeeds(program: &Path, args: &[String]) -> bool {
    let status = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    status.is_ok_and(|s| s.success())
}

fn spawn(cmd: &mut Command, log: &Path, what: &str) -> Result<Child, String> {
    let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).kill_on_drop(true);
    cmd.spawn().map_err(|e| format!("{what} did not start: {e}"))
}

/// Mounts lossyfs over `data` (its files in `data.disk`), waiting (up to
/// 10 s) until it serves.
async fn mount(cluster: &mut Cluster, data: &Path) -> Result<(), String> {
    let backing = data.with_extension("disk");
    std::fs::create_dir_all(&backing).map_err(|e| format!("{}: {e}", backing.display()))?;
    let socket = data.with_extension("sock").display().to_string();
    let mut cmd = Command::new(&cluster.lossyfs);
    cmd.args(["mount", "--backing", &backing.display().to_string()]).args([
        "--mountpoint",
        &data.display().to_string(),
        "--socket",
        &socket,
    ]);
    cluster.filesystems.push(spawn(&mut cmd, &data.with_extension("fs.log"), "lossyfs")?);
    cluster.mounts.push(data.to_path_buf());
    let status = ["status".to_string(), "--socket".into(), socket];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !succeeds(&cluster.lossyfs, &status).await {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("lossyfs did not mount over {} within 10 s", data.display()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Node `i`'s data dir (from 0) in a sweep.
fn data_dir(dir: &Path, sweep: Sweep, i: usize) -> PathBuf {
    dir.join(sweep.label()).join(format!("n{}", i + 1))
}

/// Starts the sweep's cluster under `dir`, and how its clients speak.
async fn start(
    sweep: Sweep,
    bins: &Bins,
    etcd: &Path,
    dir: &Path,
    stages: bool,
    cluster: &mut Cluster,
) -> Result<StoreKind, String> {
    let peers: Vec<String> = PORTS.iter().enumerate().map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1)).collect();
    // etcd's members and their peer URLs, as the rig names them (n1..n3,
    // peers on the port after the client port); on loopback only.
    let etcd_peers: Vec<String> =
        PORTS.iter().enumerate().map(|(i, p)| format!("n{}=http://127.0.0.1:{}", i + 1, p + 1)).collect();
    for (i, port) in PORTS.iter().enumerate() {
        let data = data_dir(dir, sweep, i);
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let mut cmd = match sweep {
            Sweep::Raftkv { tls, lossy } => {
                if lossy {
                    mount(cluster, &data).await?;
                }
                let mut cmd = Command::new(bins.path("raftkv"));
                cmd.args(["serve", "--id", &(i + 1).to_string(), "--peers", &peers.join(",")]).args([
                    "--data-dir",
                    &data.display().to_string(),
                    "--log-level",
                    "warn",
                ]);
                if stages {
                    cmd.arg("--stage-timings");
                }
                if tls {
                    cmd.arg("--tls-dir").arg(dir.join("tls").join(format!("n{}", i + 1)));
                } else {
                    cmd.arg("--insecure");
                }
                cmd
            }
            Sweep::Etcd => {
                let mut cmd = Command::new(etcd);
                cmd.args(["--name", &format!("n{}", i + 1), "--data-dir", &data.display().to_string()])
                    .args(["--listen-client-urls", &format!("http://127.0.0.1:{port}")])
                    .args(["--advertise-client-urls", &format!("http://127.0.0.1:{port}")])
                    .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", port + 1)])
                    .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{}", port + 1)])
                    .args(["--initial-cluster", &etcd_peers.join(","), "--initial-cluster-state", "new"])
                    .args(["--initial-cluster-token", "faultline-bench", "--logger", "zap", "--log-level", "warn"]);
                cmd
            }
        };
        cluster.nodes.push(spawn(&mut cmd, &data.with_extension("log"), "a node")?);
    }
    Ok(match sweep {
        Sweep::Raftkv { tls: true, .. } => {
            let tls = raftkv_client::tls::ClientTls::load(&dir.join("tls/ca.pem")).map_err(|e| e.to_string())?;
            StoreKind::Raftkv { tls: Some(tls) }
        }
        Sweep::Raftkv { tls: false, .. } => StoreKind::Raftkv { tls: None },
        Sweep::Etcd => StoreKind::Etcd { serializable: false },
    })
}

/// Waits (up to 30 s) until the cluster takes a write.
async fn await_leader(kind: &StoreKind) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = kind.open(&endpoints(), 0, Duration::from_secs(1)).await {
            if s.put(b"bench-warmup", b"x").await.is_ok() {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err("no leader took a write within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One sweep on a fresh cluster: its points, each printed as it ends.
async fn sweep(
    o: &BenchNodeOptions,
    bins: &Bins,
    etcd: &Path,
    dir: &Path,
    s: Sweep,
    stage_points: &mut Vec<StagePoint>,
) -> Result<Vec<BenchReport>, String> {
    let mut cluster =
        Cluster { nodes: Vec::new(), filesystems: Vec::new(), mounts: Vec::new(), lossyfs: bins.path("lossyfs") };
    let stages = o.stages && matches!(s, Sweep::Raftkv { .. });
    let kind = start(s, bins, etcd, dir, stages, &mut cluster).await?;
    await_leader(&kind).await?;
    let mut points = Vec::new();
    for op in [BenchOp::Write, BenchOp::Read] {
        for &clients in &o.clients {
            let spec = BenchSpec { op, clients, duration: o.duration, value_size: 100, keys: 10_000 };
            let timed = stages && op == BenchOp::Write;
            if timed {
                // The warm-up and the previous point start no stage.
                stage_reports(&cluster, dir, s).await?;
            }
            let mut report = runner::bench::run(&kind, &endpoints(), Duration::from_secs(2), &spec).await;
            if timed {
                let nodes = stage_reports(&cluster, dir, s).await?;
                let point = StagePoint { transport: report.transport.clone(), clients, nodes };
                println!("{}", serde_json::to_string(&point).expect("stage timings serialise"));
                stage_points.push(point);
            }
            if o.lossy_fs {
                let dirs = if matches!(s, Sweep::Raftkv { lossy: true, .. }) { "lossyfs" } else { "plain" };
                report.tags.insert("data_dirs".into(), dirs.into());
            }
            println!("{}", serde_json::to_string(&report).expect("a report serialises"));
            points.push(report);
        }
    }
    Ok(points)
}

/// Where one raftkv write point's time went, node by node (one JSON line).
#[derive(Debug, serde::Serialize)]
struct StagePoint {
    transport: String,
    clients: usize,
    nodes: Vec<StageReport>,
}

/// Asks every node of the sweep for its stage timings since the last ask
/// (SIGUSR1), and reads the `stages.json` each writes (up to 5 s).
async fn stage_reports(cluster: &Cluster, dir: &Path, sweep: Sweep) -> Result<Vec<StageReport>, String> {
    let files: Vec<PathBuf> =
        (0..cluster.nodes.len()).map(|i| data_dir(dir, sweep, i).join(STAGE_REPORT_FILE)).collect();
    for (node, file) in cluster.nodes.iter().zip(&files) {
        let _ = std::fs::remove_file(file);
        let pid = node.id().ok_or("a node exited during the benchmark")?;
        // SAFETY: a signal to a child this process started and still holds.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) } != 0 {
            return Err(format!("SIGUSR1 to node {pid}: {}", std::io::Error::last_os_error()));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reports = Vec::new();
    for file in &files {
        loop {
            match std::fs::read(file) {
                Ok(bytes) => {
                    let report: StageReport =
                        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
                    reports.push(report);
                    break;
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => return Err(format!("{}: no stage timings within 5 s: {e}", file.display())),
            }
        }
    }
    Ok(reports)
}

/// The stages of each raftkv write point, p50 / p99 in µs: the leader's
/// from the node that proposed the most, the followers' from the one that
/// acked the most.
fn stage_table(points: &[StagePoint]) -> String {
    let busiest = |p: &StagePoint, stage: &str| {
        p.nodes
            .iter()
            .filter_map(|n| n.stages.iter().find(|t| t.stage == stage))
            .max_by_key(|t| t.count)
            .map(|t| format!("{} / {}", t.p50_us, t.p99_us))
            .unwrap_or_else(|| "-".into())
    };
    let mut names: Vec<&str> = Vec::new();
    for t in points.iter().flat_map(|p| p.nodes.iter()).flat_map(|n| n.stages.iter()) {
        if !names.contains(&t.stage.as_str()) {
            names.push(&t.stage);
        }
    }
    names.sort_by_key(|n| !n.starts_with("leader"));
    let mut out = String::from("| stage (µs, p50 / p99) |");
    for p in points {
        out.push_str(&format!(" {} client{}, {} |", p.clients, if p.clients == 1 { "" } else { "s" }, p.transport));
    }
    out.push_str(&format!("\n|---|{}\n", "---|".repeat(points.len())));
    for name in names {
        out.push_str(&format!("| {name} |"));
        for p in points {
            out.push_str(&format!(" {} |", busiest(p, name)));
        }
        out.push('\n');
    }
    out
}

/// The fsync floor (one JSON line): 4 KiB appends, each followed by
/// `fdatasync`, for a second, in `dir`.
#[derive(Debug, serde::Serialize)]
struct FsyncFloor {
    measure: &'static str,
    syncs: usize,
    p50_ms: f64,
    p99_ms: f64,
}

fn fsync_floor(dir: &Path) -> Result<FsyncFloor, String> {
    use std::os::fd::AsRawFd;
    let path = dir.join("fsync-floor");
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [b'x'; 4096];
    let mut lat = Vec::new();
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        let t = Instant::now();
        f.write_all(&block).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: fdatasync on a descriptor this function owns.
        if unsafe { libc::fdatasync(f.as_raw_fd()) } != 0 {
            return Err(format!("fdatasync {}: {}", path.display(), std::io::Error::last_os_error()));
        }
        lat.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    lat.sort();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    Ok(FsyncFloor { measure: "fdatasync of a 4 KiB append", syncs: lat.len(), p50_ms: at(0.5), p99_ms: at(0.99) })
}

/// raftkv against etcd, point by point: both plaintext, same generator.
fn comparison(points: &[BenchReport]) -> String {
    let find = |system: &str, op: BenchOp, clients: usize| {
        points.iter().find(|p| {
            p.system == system && p.transport == "plaintext" && p.op == op && p.clients == clients && p.tags.is_empty()
        })
    };
    let mut out = String::from("| load | etcd | raftkv | raftkv / etcd |\n|---|---|---|---|\n");
    for p in points.iter().filter(|p| p.system == "etcd") {
        let Some(r) = find("raftkv", p.op, p.clients) else { continue };
        let op = if p.op == BenchOp::Write { "put" } else { "linearizable get" };
        out.push_str(&format!(
            "| {op}, {} client{} | {:.0}/s, p50 {:.2} ms, p99 {:.1} ms | {:.0}/s, p50 {:.2} ms, p99 {:.1} ms | {:.2}x |\n",
            p.clients,
            if p.clients == 1 { "" } else { "s" },
            p.ops_per_sec,
            p.p50_ms,
            p.p99_ms,
            r.ops_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.ops_per_sec / p.ops_per_sec.max(f64::MIN_POSITIVE)
        ));
    }
    out
}

/// Runs the sweeps: 0, or 3 when the benchmark itself failed.
pub async fn main(o: BenchNodeOptions) -> u8 {
    match bench(o).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench-node: {e}");
            BROKEN
        }
    }
}

async fn bench(o: BenchNodeOptions) -> Result<(), String> {
    if o.clients.is_empty() || o.clients.contains(&0) {
        return Err(format!("--clients {:?}: give client counts of at least 1, such as 1,16,64", o.clients));
    }
    if let Some(bad) = o.systems.iter().find(|s| !["raftkv", "etcd"].contains(&s.as_str())) {
        return Err(format!("--systems {bad}: the benchmark knows raftkv and etcd"));
    }
    let mut sweeps = Vec::new();
    if o.systems.iter().any(|s| s == "raftkv") {
        sweeps.extend([Sweep::Raftkv { tls: true, lossy: false }, Sweep::Raftkv { tls: false, lossy: false }]);
        if o.lossy_fs {
            sweeps.push(Sweep::Raftkv { tls: true, lossy: true });
        }
    }
    if o.systems.iter().any(|s| s == "etcd") {
        sweeps.push(Sweep::Etcd);
    }
    if o.dry_run {
        let labels: Vec<&str> = sweeps.iter().map(|s| s.label()).collect();
        println!(
            "bench-node: the fsync floor, then {}; writes then reads at {:?} clients, {:?} each",
            labels.join(", "),
            o.clients,
            o.duration
        );
        return Ok(());
    }
    if o.lossy_fs {
        crate::run::require_root().map_err(|_| "--lossy-fs mounts FUSE filesystems; run it as root".to_string())?;
    }
    let bins = Bins::find().map_err(|e| e.to_string())?;
    let etcd = if sweeps.contains(&Sweep::Etcd) {
        crate::run::on_path("etcd").ok_or("--systems etcd: no etcd on PATH; scripts/bootstrap installs etcd-server")?
    } else {
        PathBuf::new()
    };
    let dir =
        tempfile::Builder::new().prefix("raftkv-bench.").tempdir().map_err(|e| format!("no scratch folder: {e}"))?;
    let nodes: Vec<_> = (1..=3u64).map(|i| (cluster::NodeId(i), format!("n{i}"))).collect();
    certs::Authority::new("bench-node")
        .and_then(|ca| ca.write_cluster(&dir.path().join("tls"), &nodes))
        .map_err(|e| format!("certificates: {e}"))?;
    let floor = fsync_floor(dir.path())?;
    println!("{}", serde_json::to_string(&floor).expect("a floor serialises"));
    let mut points = Vec::new();
    let mut stage_points = Vec::new();
    for s in sweeps {
        let done = tokio::select! {
            r = sweep(&o, &bins, &etcd, dir.path(), s, &mut stage_points) => r,
            () = crate::interrupt::wait() => Err("interrupted".into()),
        };
        points.extend(done?);
    }
    if points.iter().any(|p| p.system == "etcd") {
        print!("{}", comparison(&points));
        println!("fsync floor: p50 {:.2} ms, p99 {:.2} ms ({} syncs)", floor.p50_ms, floor.p99_ms, floor.syncs);
    }
    if !stage_points.is_empty() {
        print!("{}", stage_table(&stage_points));
        println!("fsync floor: p50 {:.0} µs, p99 {:.0} µs", floor.p50_ms * 1000.0, floor.p99_ms * 1000.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(system: &str, op: BenchOp, clients: usize, ops: f64) -> BenchReport {
        BenchReport {
            tags: Default::default(),
            system: system.into(),
            transport: "plaintext".into(),
            op,
            clients,
            value_size: 100,
            seconds: 1.0,
            ok: ops as u64,
            errors: 0,
            ops_per_sec: ops,
            p50_ms: 1.0,
            p99_ms: 2.0,
            max_ms: 3.0,
        }
    }

    #[test]
    fn the_comparison_sets_each_etcd_point_beside_raftkvs() {
        let points = [
            point("raftkv", BenchOp::Write, 1, 900.0),
            point("raftkv", BenchOp::Read, 16, 8000.0),
            point("etcd", BenchOp::Write, 1, 300.0),
            point("etcd", BenchOp::Read, 16, 4000.0),
        ];
        let t = comparison(&points);
        assert!(t.contains("| put, 1 client | 300/s, p50 1.00 ms, p99 2.0 ms | 900/s"), "{t}");
        assert!(t.contains("| 3.00x |") && t.contains("| linearizable get, 16 clients |") && t.contains("| 2.00x |"));
    }

    #[test]
    fn the_fsync_floor_is_measured_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let f = fsync_floor(dir.path()).unwrap();
        assert!(f.syncs > 0 && f.p50_ms > 0.0 && f.p99_ms >= f.p50_ms, "{f:?}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "the scratch file stays behind");
    }
}
