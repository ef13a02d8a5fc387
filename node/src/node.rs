//! One running node: validates the configuration, opens (or bootstraps) the
//! data dir, starts the Raft loop thread, the transport and the gRPC server,
//! and shuts them down in order.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use faultline_proto::failpoints_server::FailpointsServer;
use faultline_proto::kv_server::KvServer;
use faultline_proto::raft_transport_server::RaftTransportServer;
use raft::prelude::*;
use tower::limit::GlobalConcurrencyLimitLayer;
use tracing::{info, warn};

use crate::admission::SANE_LIMIT;
use crate::config::{Identity, ReadConsistency, ServeArgs};
use crate::deadline::KvDeadlineLayer;
use crate::failpoints::FailpointService;
use crate::listener::{self, Limits};
use crate::raft_loop::{self, Event, LoopConfig, RaftLoop};
use crate::revocation::Revoked;
use crate::server::{KvService, RaftService, MAX_GRPC_MESSAGE};
use crate::storage::Storage;
use crate::throttle::Throttle;
use crate::tls::NodeTls;
use crate::transport::Transport;

/// Largest batch of entries in one append message.
const MAX_SIZE_PER_MSG: u64 = 1 << 20;
/// Append messages in flight per follower.
const MAX_INFLIGHT_MSGS: usize = 256;

/// How often the server pings an idle connection, and how long it waits
/// for the answer before closing it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent calls on one connection.
const MAX_STREAMS_PER_CONNECTION: usize = 256;

/// Runs a node until `shutdown` resolves.
pub async fn serve(args: ServeArgs, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    args.validate()?;
    let listen = args.listen_addr()?;
    // Certificates are checked before the data dir is touched.
    let tls = match &args.tls_dir {
        Some(dir) => {
            let tls = NodeTls::load(dir).context("--tls-dir")?;
            info!(tls_dir = %dir.display(), "mutual TLS: peers must present their own certificate");
            Some(tls)
        }
        None => {
            warn!("--insecure: plaintext, and any host that reaches this port can speak for a peer");
            None
        }
    };
    let dialler = tls.as_ref().map(NodeTls::dialler);
    Identity::claim(&args.data_dir, args.id, &args.peers)?;
    let db_dir = args.data_dir.join("db");
    let mut storage = Storage::open(&db_dir).with_context(|| format!("opening {}", db_dir.display()))?;
    let unsafe_settings = args.unsafe_settings();
    for s in &unsafe_settings {
        warn!(setting = %s, "UNSAFE SETTING IN FORCE: this node can lose acknowledged writes or serve stale reads");
    }
    storage.set_unsafe_no_fsync(args.unsafe_no_fsync);
    storage.set_unsafe_wal_no_sync(args.unsafe_wal_no_sync);
    let voters: Vec<u64> = args.peers.0.keys().map(|id| id.get()).collect();
    if !storage.is_initialized() {
        storage.bootstrap(voters.clone()).context("bootstrapping the conf state")?;
        info!(voters = ?voters, "bootstrapped a new member");
    } else {
        let mut found = storage.conf_state().voters.clone();
        found.sort_unstable();
        anyhow::ensure!(
            found == voters,
            "data dir {} holds the membership {found:?}, but --peers names {voters:?}",
            args.data_dir.display()
        );
    }
    let hs = storage.hard_state().clone();
    refuse_poisoned_state(&args.data_dir, &hs, storage.last())?;
    info!(
        id = %args.id,
        peers = %args.peers,
        data_dir = %args.data_dir.display(),
        listen = %listen,
        term = hs.term,
        commit = hs.commit,
        applied = storage.applied(),
        first_index = storage.first(),
        last_index = storage.last(),
        "raftkv starting"
    );

    let raft_cfg = Config {
        id: args.id.get(),
        election_tick: args.election_ticks,
        heartbeat_tick: args.heartbeat_ticks,
        applied: storage.applied(),
        max_size_per_msg: MAX_SIZE_PER_MSG,
        max_inflight_msgs: MAX_INFLIGHT_MSGS,
        check_quorum: true,
        pre_vote: true,
        read_only_option: match args.read_consistency {
            ReadConsistency::Lease => ReadOnlyOption::LeaseBased,
            ReadConsistency::Index | ReadConsistency::Local => ReadOnlyOption::Safe,
        },
        ..Default::default()
    };
    raft_cfg.validate().context("raft configuration")?;
    let raw = RawNode::new(&raft_cfg, storage, &crate::logging::raft_logger()).context("starting raft")?;

    let (events, inbox) = raft_loop::inbox();
    let peer_list: Vec<(u64, String)> = args.peers.0.iter().map(|(id, a)| (id.get(), a.clone())).collect();
    let transport =
        Transport::start(args.id.get(), &peer_list, events.clone(), tokio::runtime::Handle::current(), dialler);
    let loop_cfg = LoopConfig {
        tick_interval: args.tick_interval,
        read_index_retry: args.read_index_retry,
        snapshot_threshold: args.snapshot_threshold,
        local_reads: args.read_consistency == ReadConsistency::Local,
        ack_before_commit: args.unsafe_ack_before_commit,
        stage_timings: args.stage_timings,
    };
    // The loop's end, as soon as it comes: a storage failure must stop the
    // whole node, not leave a server that answers "shutting down".
    let (loop_ended, raft_ended) = tokio::sync::oneshot::channel();
    let raft_thread = std::thread::Builder::new()
        .name("raft-loop".into())
        .spawn(move || {
            let _ = loop_ended.send(RaftLoop::new(raw, inbox, transport, loop_cfg).run());
        })
        .context("spawning the raft loop thread")?;

    let revoked = Arc::new(match &args.tls_dir {
        Some(dir) => Revoked::load(dir).context("--tls-dir")?,
        None => Revoked::default(),
    });
    if !revoked.is_empty() {
        info!(revoked = revoked.len(), "revoked certificates are refused");
    }
    let addrs = peer_list.iter().cloned().collect();
    let raft_svc = RaftService {
        id: args.id.get(),
        peers: peer_list.iter().cloned().collect(),
        events: events.clone(),
        max_snapshot_size: args.max_snapshot_size,
        snapshot_bytes: Arc::default(),
        authenticate: tls.is_some(),
        revoked: revoked.clone(),
        refused: Throttle::per_second(),
    };
    let kv_svc = KvService {
        events: events.clone(),
        addrs,
        addr: args.peers.0[&args.id].clone(),
        request_timeout: args.request_timeout,
        max_key_size: args.max_key_size,
        max_value_size: args.max_value_size,
        unsafe_settings,
    };
    let max_request = kv_svc.max_request_size();
    let nofile = listener::raise_fd_limit().context("raising the file-descriptor limit")?;
    let limits = Limits {
        handshake_timeout: args.handshake_timeout,
        max_connections: args.max_connections,
        max_pending: (args.max_connections / 4).max(1),
    }
    .within(nofile);
    let tcp = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    info!(%listen, nofile, max_connections = limits.max_connections, max_pending = limits.max_pending, "serving raft peers and clients");
    if let Some(dir) = args.tls_dir.clone() {
        tokio::spawn(reload_on_sighup(dir, revoked.clone()));
    }
    if args.stage_timings {
        tokio::spawn(report_stages_on_sigusr1(args.data_dir.clone(), events.clone()));
    }
    if let Some(after) = args.panic_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            panic!("--panic-after {after:?}: the panic the test of the panic hook asked for");
        });
    }
    // Peers hold long-lived streams that never end on their own, so a
    // graceful stop waits for in-flight requests only up to a grace period.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = tonic::transport::Server::builder()
        // Idle connections answer pings or are closed.
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION)
        .layer(
            tower::ServiceBuilder::new()
                .layer(KvDeadlineLayer { deadline: args.request_timeout * 2 })
                .layer(GlobalConcurrencyLimitLayer::new(args.max_inflight_requests)),
        )
        .add_service(
            RaftTransportServer::new(raft_svc)
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(
            KvServer::new(kv_svc).max_decoding_message_size(max_request).max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(FailpointsServer::new(FailpointService {
            authenticated: tls.is_some(),
            members: args.peers.0.keys().copied().collect(),
        }));
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(());
    };
    let server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match &tls {
        Some(t) => {
            let config = t.server().context("--tls-dir: the node's certificate or key")?;
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let revoked = revoked.clone();
            let incoming = listener::incoming(tcp, limits, move |tcp| {
                let (acceptor, revoked) = (acceptor.clone(), revoked.clone());
                async move {
                    let stream = acceptor.accept(tcp).await?;
                    if revoked.revokes(stream.get_ref().1.peer_certificates()) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            "the certificate presented is revoked (revoked.txt)",
                        ));
                    }
                    Ok(stream)
                }
            });
            Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
        }
        None => {
            let incoming = listener::incoming(tcp, limits, |tcp| async move { Ok(tcp) });
            Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
        }
    };
    let grace = args.request_timeout;
    let mut failed = None;
    let served = tokio::select! {
        r = server => r,
        _ = async move {
            if stopped.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => Ok(()),
        ended = raft_ended => {
            // Before Shutdown the loop only ends by failing, or by panicking
            // (its sender is then dropped unsent).
            failed = Some(match ended {
                Ok(Ok(())) => "the Raft loop stopped unasked".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the Raft loop panicked".to_string(),
            });
            Ok(())
        }
    };
    info!("shutting down");
    let _ = events.send(Event::Shutdown);
    let _ = tokio::task::spawn_blocking(move || raft_thread.join()).await;
    if let Some(why) = failed {
        return Err(anyhow::anyhow!("{why}"));
    }
    served.context("grpc server")?;
    info!("stopped");
    Ok(())
}

/// Stops start-up on saved Raft state that no sane cluster reaches: such a
/// term (persisted from a hostile message before admission refused them)
/// would wrap inside raft-rs and crash the node again and again.
fn refuse_poisoned_state(data_dir: &Path, hs: &HardState, last_index: u64) -> anyhow::Result<()> {
    for (what, value) in [("term", hs.term), ("commit", hs.commit), ("last log index", last_index)] {
        anyhow::ensure!(
            value < SANE_LIMIT,
            "data dir {} holds a saved {what} of {value}, past any value a sane cluster reaches \
             (limit {SANE_LIMIT}): the state was poisoned, likely by a hostile peer message. \
             This node will not start on it; move the data dir aside so that the node rejoins \
             empty and catches up from its peers, and revoke the peer key that sent it",
            data_dir.display()
        );
    }
    Ok(())
}

/// On every SIGUSR1, asks the loop for its stage timings (`--stage-timings`),
/// logs them and writes them to `stages.json` in the data dir, through a
/// temporary file so a reader never sees half of one.
async fn report_stages_on_sigusr1(data_dir: PathBuf, events: std::sync::mpsc::Sender<Event>) {
    use raftkv_client::stages::STAGE_REPORT_FILE;
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = match signal(SignalKind::user_defined1()) {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot watch SIGUSR1, so --stage-timings reports nothing: {e}");
            return;
        }
    };
    while usr1.recv().await.is_some() {
        let (reply, report) = tokio::sync::oneshot::channel();
        if events.send(Event::StageReport { reply }).is_err() {
            return;
        }
        let Ok(report) = report.await else { return };
        info!(target: "raftkv::stages", "stage timings (µs, p50/p99): {}", crate::stages::summary(&report));
        let json = serde_json::to_vec(&report).expect("a stage report serialises");
        let path = data_dir.join(STAGE_REPORT_FILE);
        let tmp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &path)) {
            warn!("{}: {e}", path.display());
        }
    }
}

/// Reads the revoked list again on every SIGHUP; a bad file is logged and
/// the list in force kept.
async fn reload_on_sighup(dir: PathBuf, revoked: Arc<Revoked>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            warn!("cannot watch SIGHUP, so the revoked list is read at start only: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match revoked.reload() {
            // A warning: a change of who is trusted belongs in any log.
            Ok(n) => warn!(revoked = n, dir = %dir.display(), "SIGHUP: revoked certificates read again"),
            Err(e) => warn!("SIGHUP: the revoked list was not changed: {e}"),
        }
    }
}
