//! raftkv's failpoints, as the node and the rig both name them: the points
//! (one table), the actions a point can take, and the request that sets
//! one on a running node.
//!
//! The table lives here, not in the node, so the nemesis can refuse an
//! unknown point before it touches a host, and the node can refuse one
//! with the same list.

use std::fmt;
use std::str::FromStr;

use faultline_proto::failpoints_client::FailpointsClient;
use faultline_proto::FailpointRequest;

use crate::tls::{self, ClientTls};
use crate::{ClientError, CONNECT_TIMEOUT};

/// Every failpoint of the node, with where it sits.
pub const POINTS: &[(&str, &str)] = &[
    ("raft-became-leader", "a node just elected, just after its first append as leader has left"),
    ("raft-before-send", "a Ready's messages that may leave before its own write (a leader's appends)"),
    ("raft-before-snapshot-install", "a snapshot from the leader, before it replaces the state"),
    ("raft-after-snapshot-install", "a snapshot from the leader, once installed"),
    ("raft-before-persist", "a Ready with new entries, before they (and its hard state) are written"),
    (
        "raft-leader-before-persist",
        "a leader's Ready with client entries, sent to the followers, before it writes them",
    ),
    ("raft-after-persist", "a Ready's entries and hard state written, before the acks and votes leave"),
    (
        "raft-after-overwrite",
        "a follower's write that replaced the end of its log with a new leader's entries, before its acks leave",
    ),
    ("raft-after-send", "the acks and votes that vouch for the write handed to the network"),
    ("raft-after-vote", "a vote granted and handed to the network (only a Ready that grants one reaches it)"),
    ("raft-before-apply", "committed entries, before the state machine applies them"),
    ("raft-after-apply", "committed entries applied, before their proposers are answered"),
    ("raft-before-snapshot-save", "the log about to be compacted into a snapshot"),
    ("server-before-reply", "a client's write applied, before the answer leaves the server"),
];

/// The names of [`POINTS`], for an error that lists them.
pub fn point_names() -> String {
    POINTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Whether `name` is one of the node's points.
pub fn is_point(name: &str) -> bool {
    POINTS.iter().any(|(n, _)| *n == name)
}

/// What a point does when it is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The thread stops there and the process aborts: a crash at exactly
    /// that step.
    Crash,
    /// The step fails with an error (the node fail-stops on a storage
    /// step; a client gets UNAVAILABLE).
    Error,
    /// The thread sleeps that many milliseconds, then goes on.
    Sleep(u64),
}

/// An action: an effect, taken with a probability (percent) and at most a
/// number of times. Written `[P%][N*]crash|error|sleep(MS)`, the `fail`
/// crate's own grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    pub effect: Effect,
    pub percent: Option<u8>,
    pub times: Option<u32>,
}

impl Action {
    pub fn once(effect: Effect) -> Action {
        Action { effect, percent: None, times: Some(1) }
    }

    /// The action in the `fail` crate's grammar: crash and error are its
    /// `return` with an argument the node's failpoint sites read.
    pub fn fail_cfg(&self) -> String {
        let mut s = String::new();
        if let Some(p) = self.percent {
            s.push_str(&format!("{p}%"));
        }
        if let Some(n) = self.times {
            s.push_str(&format!("{n}*"));
        }
        match self.effect {
            Effect::Crash => s.push_str("return(crash)"),
            Effect::Error => s.push_str("return(error)"),
            Effect::Sleep(ms) => s.push_str(&format!("sleep({ms})")),
        }
        s
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.percent {
            write!(f, "{p}%")?;
        }
        if let Some(n) = self.times {
            write!(f, "{n}*")?;
        }
        match self.effect {
            Effect::Crash => f.write_str("crash"),
            Effect::Error => f.write_str("error"),
            Effect::Sleep(ms) => write!(f, "sleep({ms})"),
        }
    }
}

const GRAMMAR: &str = "an action is [P%][N*]crash, error or sleep(MS), such as crash, 1*crash, 30%sleep(200)";

impl FromStr for Action {
    type Err = String;
    fn from_str(text: &str) -> Result<Action, String> {
        let bad = |why: &str| format!("failpoint action {text:?}: {why}; {GRAMMAR}");
        let mut rest = text.trim();
        let mut percent = None;
        if let Some((p, r)) = rest.split_once('%') {
            match p.parse::<u8>() {
                Ok(p @ 1..=100) => percent = Some(p),
                _ => return Err(bad("the probability must be a whole percent from 1 to 100")),
            }
            rest = r;
        }
        let mut times = None;
        if let Some((n, r)) = rest.split_once('*') {
            match n.parse::<u32>() {
                Ok(n @ 1..) => times = Some(n),
                _ => return Err(bad("the count must be a whole number from 1")),
            }
            rest = r;
        }
        let effect = match rest {
            "crash" => Effect::Crash,
            "error" => Effect::Error,
            _ => match rest.strip_prefix("sleep(").and_then(|r| r.strip_suffix(')')).map(str::parse::<u64>) {
                Some(Ok(ms)) => Effect::Sleep(ms),
                Some(Err(_)) => return Err(bad("sleep takes whole milliseconds")),
                None => return Err(bad("unknown effect")),
            },
        };
        Ok(Action { effect, percent, times })
    }
}

/// Sets failpoint `name` on the node at `addr` to `action`, or clears it
/// (`None`); returns every point then set on that node, as NAME=ACTION.
pub async fn set(
    addr: &str,
    client_tls: Option<&ClientTls>,
    name: &str,
    action: Option<&Action>,
) -> Result<Vec<String>, ClientError> {
    let endpoint = tls::endpoint(addr, client_tls, tls::SERVER_NAME)
        .map_err(|e| ClientError::InvalidArgument(format!("endpoint {addr:?}: {e}")))?;
    let channel = tls::connect(endpoint, CONNECT_TIMEOUT)
        .await
        .map_err(|e| ClientError::Unreachable(format!("{addr}: connect failed: {e}")))?;
    let request =
        FailpointRequest { name: name.to_string(), action: action.map(Action::to_string).unwrap_or_default() };
    match FailpointsClient::new(channel).set(request).await {
        Ok(r) => Ok(r.into_inner().active),
        Err(s) if s.code() == tonic::Code::InvalidArgument => Err(ClientError::InvalidArgument(s.message().into())),
        Err(s) => Err(ClientError::Refused(format!("{addr}: {}", s.message()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_and_write_the_fail_grammar() {
        for (text, cfg) in [
            ("crash", "return(crash)"),
            ("1*crash", "1*return(crash)"),
            ("30%sleep(200)", "30%sleep(200)"),
            ("50%2*error", "50%2*return(error)"),
        ] {
            let a: Action = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
            assert_eq!(a.fail_cfg(), cfg);
        }
        for bad in ["", "explode", "0%crash", "101%crash", "0*crash", "sleep(x)", "sleep(5"] {
            let err = bad.parse::<Action>().unwrap_err();
            assert!(err.contains(GRAMMAR), "{err}");
        }
        assert!(is_point("raft-after-send") && !is_point("raft-after-lunch"));
        assert!(point_names().starts_with("raft-became-leader, raft-before-send, "));
    }
}
