//! The key-value state machine: what one committed [`Command`] does.
//!
//! Commands of one Ready are applied into an [`Overlay`], which the Raft
//! loop writes together with the applied index in one RocksDB batch. A later
//! command of the same batch must see an earlier one's write (a cas after a
//! put on the same key), so reads go through the overlay first.

use std::collections::HashMap;

use faultline_proto::{command::Op, micro_op::Kind, Command, TxnRequest};

use crate::storage::{Storage, StoreError};

/// Pending state-machine changes: key to new value (`None` deletes).
#[derive(Default)]
pub struct Overlay {
    changes: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Overlay {
    fn get(&self, storage: &Storage, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => storage.kv_get(key),
        }
    }

    fn set(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        self.changes.insert(key.to_vec(), value);
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn into_changes(self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
        self.changes.into_iter()
    }
}

/// What an applied command answers to the client that proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A put, delete or append took effect at this log index.
    Written { index: u64 },
    /// A compare-and-set was decided at this log index. On a mismatch,
    /// `current` is the value found (`None`: the key was absent).
    Cas { succeeded: bool, current: Option<Vec<u8>>, index: u64 },
    /// A transaction was applied at this log index; `reads` holds what
    /// each read micro-op found, in order (`None`: absent).
    Txn { reads: Vec<Option<Vec<u8>>>, index: u64 },
    /// The command was applied at this log index as a refusal: it changed
    /// nothing, on every replica alike.
    Refused { reason: String, index: u64 },
}

/// Applies one command at log `index`.
pub fn apply(storage: &Storage, overlay: &mut Overlay, cmd: &Command, index: u64) -> Result<Outcome, StoreError> {
    let written = Outcome::Written { index };
    match &cmd.op {
        Some(Op::Put(p)) => {
            overlay.set(&p.key, Some(p.value.to_vec()));
            Ok(written)
        }
        Some(Op::Delete(d)) => {
            overlay.set(&d.key, None);
            Ok(written)
        }
        Some(Op::Append(a)) => {
            let mut value = overlay.get(storage, &a.key)?.unwrap_or_default();
            if let Some(reason) = over_limit(cmd, value.len() + a.value.len()) {
                return Ok(Outcome::Refused { reason: format!("{reason}; nothing was appended"), index });
            }
            value.extend_from_slice(&a.value);
            overlay.set(&a.key, Some(value));
            Ok(written)
        }
        Some(Op::Txn(t)) => apply_txn(storage, overlay, cmd, t, index),
        Some(Op::Cas(c)) => {
            let current = overlay.get(storage, &c.key)?;
            let matches = match &current {
                None => c.expect_absent,
                Some(v) => !c.expect_absent && v[..] == c.expected[..],
            };
            if matches {
                overlay.set(&c.key, Some(c.new_value.to_vec()));
                Ok(Outcome::Cas { succeeded: true, current: None, index })
            } else {
                Ok(Outcome::Cas { succeeded: false, current, index })
            }
        }
        // An entry without an op is a no-op; nothing proposes one today.
        None => Ok(written),
    }
}

/// Why a value of `len` bytes is refused under the proposer's
/// `--max-value-size`, if it is.
fn over_limit(cmd: &Command, len: usize) -> Option<String> {
    let limit = cmd.max_value_size as usize;
    (limit > 0 && len > limit).then(|| {
        format!("the append would make the value {len} bytes, over the limit of {limit} bytes (--max-value-size)")
    })
}

/// Applies a transaction's micro-ops in order. Every one of them runs at
/// this one log index, so no other command comes between them: that is
/// the atomicity and isolation the Txn RPC promises. A refusal part-way
/// must change nothing, so the writes go to a layer of their own that
/// joins the overlay only once every micro-op has run.
fn apply_txn(
    storage: &Storage,
    overlay: &mut Overlay,
    cmd: &Command,
    txn: &TxnRequest,
    index: u64,
) -> Result<Outcome, StoreError> {
    let mut layer: HashMap<&[u8], Option<Vec<u8>>> = HashMap::new();
    let mut reads = Vec::new();
    for (i, m) in txn.ops.iter().enumerate() {
        let current = match layer.get(&m.key[..]) {
            Some(v) => v.clone(),
            None => overlay.get(storage, &m.key)?,
        };
        let refused =
            |why: String| Outcome::Refused { reason: format!("micro-op {i}: {why}; nothing was applied"), index };
        match Kind::try_from(m.kind) {
            Ok(Kind::Read) => reads.push(current),
            Ok(Kind::Put) => {
                layer.insert(&m.key, Some(m.value.to_vec()));
            }
            Ok(Kind::Append) => {
                let mut value = current.unwrap_or_default();
                if let Some(reason) = over_limit(cmd, value.len() + m.value.len()) {
                    return Ok(refused(reason));
                }
                value.extend_from_slice(&m.value);
                layer.insert(&m.key, Some(value));
            }
            Err(_) => return Ok(refused(format!("unknown kind {}", m.kind))),
        }
    }
    for (key, value) in layer {
        overlay.set(key, value);
    }
    Ok(Outcome::Txn { reads, index })
}
