//! One running node: validates the configuration, opens (or bootstraps) the
//! data dir, starts the Raft loop thread, the transport and the gRPC server,
//! and shuts them down in order.

use std::future::Future;

use anyhow::Context as _;
use faultline_proto::kv_server::KvServer;
use faultline_proto::raft_transport_server::RaftTransportServer;
use raft::prelude::*;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{info, warn};

use crate::config::{Identity, ReadConsistency, ServeArgs};
use crate::raft_loop::{self, Event, LoopConfig, RaftLoop};
use crate::server::{KvService, RaftService, MAX_GRPC_MESSAGE};
use crate::storage::Storage;
use crate::tls::NodeTls;
use crate::transport::Transport;

/// Largest batch of entries in one append message.
const MAX_SIZE_PER_MSG: u64 = 1 << 20;
/// Append messages in flight per follower.
const MAX_INFLIGHT_MSGS: usize = 256;

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

    let addrs = peer_list.iter().cloned().collect();
    let raft_svc = RaftService {
        id: args.id.get(),
        peers: peer_list.iter().cloned().collect(),
        events: events.clone(),
        max_snapshot_size: args.max_snapshot_size,
        authenticate: tls.is_some(),
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
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    info!(%listen, "serving raft peers and clients");
    // Peers hold long-lived streams that never end on their own, so a
    // graceful stop waits for in-flight requests only up to a grace period.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut builder = tonic::transport::Server::builder();
    if let Some(t) = &tls {
        builder = builder.tls_config(t.server()).context("--tls-dir: the node's certificate or key")?;
    }
    let server = builder
        .tcp_nodelay(true)
        .add_service(
            RaftTransportServer::new(raft_svc)
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(
            KvServer::new(kv_svc)
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            let _ = stopping.send(());
        });
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
                Ok(Err(e)) => format!("storage failure in the Raft loop: {e}"),
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
