//! The nemesis: everything done *to* the nodes. It sets up the local test
//! hosts, installs and runs the nodes, and injects faults that it always
//! heals.
//!
//! Layout:
//! - [`hosts`]: the local test hosts (network namespaces on a bridge);
//! - [`remote`]: running a shell command on a host (`ip netns exec` or SSH);
//! - [`db`]: the DB protocol: how to start a node of the system under test
//!   (raftkv, etcd) and ask it about itself;
//! - [`lifecycle`]: one node's process: install, start, stop, kill, pause;
//! - [`partition`]: grudges, partition shapes, and their iptables rules
//!   (whole, or a random share of the packets);
//! - [`clock`]: clock bumps, strobes and drifts through the clock shim;
//! - [`corrupt`]: which bytes of which file a corruption damages;
//! - [`control`]: actions across the cluster: lifecycle, partitions,
//!   leader lookup, status, heal;
//! - [`faults`]: the fault catalogue and how each fault is undone
//!   (power failures go through the `lossyfs` crate's data dirs);
//! - [`scheduler`]: `nemesis run`'s seeded schedule of faults;
//! - [`schedule_file`]: the explicit schedule a run writes and a replay reads;
//! - [`tls`]: the run's certificates (mutual TLS between the nodes);
//! - [`events`]: the events file (JSON lines, history format);
//! - [`cli`]: the command line.

pub mod cli;
pub mod clock;
pub mod control;
pub mod corrupt;
pub mod db;
pub mod events;
pub mod faults;
pub mod hosts;
pub mod lifecycle;
pub mod partition;
pub mod remote;
pub mod schedule_file;
pub mod scheduler;
pub mod tls;
