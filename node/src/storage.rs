//! RocksDB persistence of one node: the Raft log, the Raft state and the
//! key-value state machine, behind raft-rs's [`raft::Storage`] trait.
//!
//! Column families (one WAL, so a batch over several of them is atomic):
//! - `raft_log`: entries, keyed by their index as a big-endian u64, so that
//!   byte order is numeric order and range deletes work;
//! - `raft_state`: the hard state, the conf state, the truncation point
//!   (index and term of the last compacted entry, which is also the index of
//!   the last snapshot) and the applied index;
//! - `kv`: the state machine's keys and values.
//!
//! Only the Raft loop writes. It owns the [`Storage`] through `RawNode`, so
//! the cached indexes here need no lock.

use std::path::Path;
use std::sync::Arc;

use prost_011::Message as _;
use raft::prelude::*;
use raft::{GetEntriesContext, RaftState, Storage as _, StorageError};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use crate::state_machine::Overlay;

pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_STATE: &str = "raft_state";
pub const CF_KV: &str = "kv";

const KEY_HARD_STATE: &[u8] = b"hard_state";
const KEY_CONF_STATE: &[u8] = b"conf_state";
const KEY_TRUNCATED: &[u8] = b"truncated";
const KEY_APPLIED: &[u8] = b"applied";

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt {what} in the data dir: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("creating {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error(transparent)]
    Failpoint(#[from] crate::failpoints::Failpoint),
    #[error("the raft log on disk is broken at entry {index}: {detail}")]
    LogBroken { index: u64, detail: String },
}

/// The persisted state of one node.
pub struct Storage {
    db: Arc<DB>,
    hard_state: HardState,
    conf_state: ConfState,
    /// Index and term of the last entry removed from the log (compaction or
    /// snapshot install). `first_index` is `truncated_index + 1`.
    truncated_index: u64,
    truncated_term: u64,
    last_index: u64,
    applied: u64,
    unsafe_no_fsync: bool,
    unsafe_wal_no_sync: bool,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode_u64(what: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt { what, detail: format!("expected 8 bytes, found {}", bytes.len()) })?;
    Ok(u64::from_be_bytes(arr))
}

fn decode_pb<M: prost_011::Message + Default>(what: &'static str, bytes: &[u8]) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

/// Reads the whole log as a restart finds it and checks what every write
/// must have kept true, as etcd's `ETCD_VERIFY` checks its WAL at start: the
/// indexes follow one another without a hole, and the terms never go down.
/// Either break means the log was written wrong (a suffix that a leader
/// overwrote kept on disk past the new tail, entries appended by a leader
/// of a term older than the log's, an entry lost between two others), and
/// a node that ran on such a log could vote and answer from entries its
/// cluster replaced, so the node refuses to start. Both checks
/// stay within the log's own column family: with `--unsafe-no-fsync` the
/// families reach disk apart. Returns the last index, if any entry is left.
fn verify_log(db: &DB) -> Result<Option<u64>, StoreError> {
    let log = db.cf_handle(CF_RAFT_LOG).expect("raft_log column family");
    let mut prev: Option<(u64, u64)> = None;
    for item in db.iterator_cf(log, IteratorMode::Start) {
        let (key, value) = item?;
        let index = decode_u64("log key", &key)?;
        let term = decode_pb::<Entry>("log entry", &value)?.term;
        if let Some((prev_index, prev_term)) = prev {
            if index != prev_index + 1 {
                return Err(StoreError::LogBroken {
                    index,
                    detail: format!("entry {prev_index} is followed by {index}"),
                });
            }
            if term < prev_term {
                return Err(StoreError::LogBroken {
                    index,
                    detail: format!(
                        "its term {term} is below entry {prev_index}'s {prev_term}, and a Raft log's terms \
                         never go down (a suffix a new leader overwrote was kept, or a node that forgot its \
                         term led in an older one)"
                    ),
                });
            }
        }
        prev = Some((index, term));
    }
    Ok(prev.map(|(index, _)| index))
}

fn to_raft_err(e: StoreError) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(e)))
}

impl Storage {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Storage, StoreError> {
        // RocksDB creates a missing dir without syncing its parent, so a
        // power failure could take the new dir's entry, and with it every
        // synced file inside. Create it here, and sync the parent.
        if !dir.exists() {
            let io = |source| StoreError::CreateDir { dir: dir.display().to_string(), source };
            std::fs::create_dir_all(dir).map_err(io)?;
            if let Some(parent) = dir.parent() {
                std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = [CF_RAFT_LOG, CF_RAFT_STATE, CF_KV]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&opts, dir, cfs)?);
        Storage::load(db)
    }

    fn load(db: Arc<DB>) -> Result<Storage, StoreError> {
        let state = db.cf_handle(CF_RAFT_STATE).expect("raft_state column family");
        let hard_state = match db.get_cf(state, KEY_HARD_STATE)? {
            Some(b) => decode_pb("hard state", &b)?,
            None => HardState::default(),
        };
        let conf_state = match db.get_cf(state, KEY_CONF_STATE)? {
            Some(b) => decode_pb("conf state", &b)?,
            None => ConfState::default(),
        };
        let (truncated_index, truncated_term) = match db.get_cf(state, KEY_TRUNCATED)? {
            Some(b) if b.len() == 16 => {
                (decode_u64("truncated index", &b[..8])?, decode_u64("truncated term", &b[8..])?)
            }
            Some(b) => {
                return Err(StoreError::Corrupt {
                    what: "truncation point",
                    detail: format!("expected 16 bytes, found {}", b.len()),
                })
            }
            None => (0, 0),
        };
        let applied = match db.get_cf(state, KEY_APPLIED)? {
            Some(b) => decode_u64("applied index", &b)?,
            None => 0,
        };
        let last_index = verify_log(&db)?.unwrap_or(truncated_index);
        let mut hard_state = hard_state;
        // The applied index is written before the hard state of the same
        // Ready; after a crash between the two, the commit index is learnt
        // from the applied one (an applied entry was committed).
        if hard_state.commit < applied {
            hard_state.commit = applied;
        }
        Ok(Storage {
            db,
            hard_state,
            conf_state,
            truncated_index,
            truncated_term,
            last_index,
            applied,
            unsafe_no_fsync: false,
            unsafe_wal_no_sync: false,
        })
    }

    /// The shared database handle, for the state machine's reads.
    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// Whether this data dir already holds a Raft configuration.
    pub fn is_initialized(&self) -> bool {
        !self.conf_state.voters.is_empty()
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn first(&self) -> u64 {
        self.truncated_index + 1
    }

    pub fn last(&self) -> u64 {
        self.last_index
    }

    /// Writes the initial conf state of a brand-new cluster member. Every
    /// node of the cluster writes the same one, so no node needs a snapshot
    /// to learn the membership.
    pub fn bootstrap(&mut self, voters: Vec<u64>) -> Result<(), StoreError> {
        let cs = ConfState { voters, ..Default::default() };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_RAFT_STATE), KEY_CONF_STATE, cs.encode_to_vec());
        self.write(batch, true)?;
        self.conf_state = cs;
        Ok(())
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // Column families are created at open; a missing one is a bug.
        self.db.cf_handle(name).expect("column family created at open")
    }

    /// UNSAFE (`--unsafe-no-fsync`): from now on, writes neither sync nor
    /// go through RocksDB's write-ahead log, so they live in memory until a
    /// memtable flush and a killed process loses them, as a power cut loses
    /// unsynced writes.
    pub fn set_unsafe_no_fsync(&mut self, on: bool) {
        self.unsafe_no_fsync = on;
    }

    /// UNSAFE (`--unsafe-wal-no-sync`): from now on, writes go through
    /// RocksDB's write-ahead log but never sync it, so only a power
    /// failure (not a killed process) loses them.
    pub fn set_unsafe_wal_no_sync(&mut self, on: bool) {
        self.unsafe_wal_no_sync = on;
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        if self.unsafe_no_fsync {
            wo.disable_wal(true);
        } else {
            wo.set_sync(sync && !self.unsafe_wal_no_sync);
        }
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Persists one Ready's snapshot, entries and hard state in ONE batch:
    /// either all of it survives a crash or none of it does.
    pub fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hs: Option<&HardState>,
        sync: bool,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let state_cf = self.cf(CF_RAFT_STATE);
        let log_cf = self.cf(CF_RAFT_LOG);
        let (mut truncated, mut last, mut applied) =
            ((self.truncated_index, self.truncated_term), self.last_index, self.applied);
        let mut conf_state = None;
        if let Some(snap) = snapshot {
            let meta = snap.get_metadata();
            let data: faultline_proto::SnapshotData = prost::Message::decode(snap.get_data())
                .map_err(|e| StoreError::Corrupt { what: "snapshot data", detail: e.to_string() })?;
            // The snapshot replaces the whole state machine and the whole log.
            let kv_cf = self.cf(CF_KV);
            for item in self.db.iterator_cf(kv_cf, IteratorMode::Start) {
                batch.delete_cf(kv_cf, item?.0);
            }
            for pair in &data.pairs {
                batch.put_cf(kv_cf, &pair.key, &pair.value);
            }
            batch.delete_range_cf(log_cf, index_key(0), index_key(u64::MAX));
            let mut tail = [0u8; 16];
            tail[..8].copy_from_slice(&meta.index.to_be_bytes());
            tail[8..].copy_from_slice(&meta.term.to_be_bytes());
            batch.put_cf(state_cf, KEY_TRUNCATED, tail);
            batch.put_cf(state_cf, KEY_APPLIED, meta.index.to_be_bytes());
            batch.put_cf(state_cf, KEY_CONF_STATE, meta.get_conf_state().encode_to_vec());
            truncated = (meta.index, meta.term);
            last = meta.index;
            applied = meta.index;
            conf_state = Some(meta.get_conf_state().clone());
        }
        if let (Some(first), Some(new_last)) = (entries.first(), entries.last()) {
            for e in entries {
                batch.put_cf(log_cf, index_key(e.index), e.encode_to_vec());
            }
            // Entries past the new tail belong to a conflicting suffix that
            // the leader overwrote: they must not come back after a restart.
            if new_last.index < last {
                batch.delete_range_cf(log_cf, index_key(new_last.index + 1), index_key(last + 1));
            }
            debug_assert!(first.index <= last + 1, "log gap: append {} after {}", first.index, last);
            last = new_last.index;
        }
        let mut hard_state = None;
        if let Some(hs) = hs {
            let mut hs = hs.clone();
            if snapshot.is_some() && hs.commit < truncated.0 {
                hs.commit = truncated.0;
            }
            batch.put_cf(state_cf, KEY_HARD_STATE, hs.encode_to_vec());
            hard_state = Some(hs);
        } else if let Some(snap) = snapshot {
            let mut hs = self.hard_state.clone();
            hs.term = hs.term.max(snap.get_metadata().term);
            hs.commit = hs.commit.max(snap.get_metadata().index);
            batch.put_cf(state_cf, KEY_HARD_STATE, hs.encode_to_vec());
            hard_state = Some(hs);
        }
        self.write(batch, sync)?;
        self.truncated_index = truncated.0;
        self.truncated_term = truncated.1;
        self.last_index = last;
        self.applied = applied;
        if let Some(cs) = conf_state {
            self.conf_state = cs;
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs;
        }
        Ok(())
    }

    /// Persists the commit index that a LightReady advanced. Not synced: a
    /// lost commit index is learnt again from the leader, and the entries it
    /// covers are already durable.
    pub fn set_commit(&mut self, commit: u64) -> Result<(), StoreError> {
        if commit <= self.hard_state.commit {
            return Ok(());
        }
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_RAFT_STATE), KEY_HARD_STATE, hs.encode_to_vec());
        self.write(batch, false)?;
        self.hard_state = hs;
        Ok(())
    }

    /// Writes the state-machine changes of applied entries together with the
    /// new applied index, in one batch, so a restart never applies an entry
    /// twice nor skips one.
    pub fn commit_applied(&mut self, overlay: Overlay, applied: u64) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let kv_cf = self.cf(CF_KV);
        for (key, value) in overlay.into_changes() {
            match value {
                Some(v) => batch.put_cf(kv_cf, key, v),
                None => batch.delete_cf(kv_cf, key),
            }
        }
        batch.put_cf(self.cf(CF_RAFT_STATE), KEY_APPLIED, applied.to_be_bytes());
        self.write(batch, false)?;
        self.applied = applied;
        Ok(())
    }

    /// Removes log entries up to and including `index` (which must be
    /// applied), remembering its term for log matching.
    pub fn compact(&mut self, index: u64) -> Result<(), StoreError> {
        if index <= self.truncated_index {
            return Ok(());
        }
        assert!(index <= self.applied, "compact {index} beyond applied {}", self.applied);
        let term = self.term(index).map_err(|e| StoreError::Corrupt { what: "log", detail: e.to_string() })?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_RAFT_LOG), index_key(0), index_key(index + 1));
        let mut tail = [0u8; 16];
        tail[..8].copy_from_slice(&index.to_be_bytes());
        tail[8..].copy_from_slice(&term.to_be_bytes());
        batch.put_cf(self.cf(CF_RAFT_STATE), KEY_TRUNCATED, tail);
        self.write(batch, false)?;
        self.truncated_index = index;
        self.truncated_term = term;
        Ok(())
    }

    /// Reads one key of the state machine.
    pub fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_KV), key)?)
    }

    /// Builds the state-machine snapshot data at the current applied index.
    fn snapshot_data(&self) -> Result<Vec<u8>, StoreError> {
        let kv_cf = self.cf(CF_KV);
        let mut data = faultline_proto::SnapshotData::default();
        for item in self.db.iterator_cf(kv_cf, IteratorMode::From(&[], Direction::Forward)) {
            let (k, v) = item?;
            data.pairs.push(faultline_proto::KvPair { key: k.to_vec().into(), value: v.to_vec().into() });
        }
        Ok(prost::Message::encode_to_vec(&data))
    }

    fn entry(&self, index: u64) -> Result<Entry, StoreError> {
        match self.db.get_cf(self.cf(CF_RAFT_LOG), index_key(index))? {
            Some(b) => decode_pb("log entry", &b),
            None => Err(StoreError::Corrupt { what: "log", detail: format!("entry {index} missing") }),
        }
    }
}

impl raft::Storage for Storage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard_state.clone(), self.conf_state.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(high <= self.last_index + 1, "entries high {high} beyond last {}", self.last_index);
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let log_cf = self.cf(CF_RAFT_LOG);
        let mut out = Vec::with_capacity((high - low) as usize);
        let mut size = 0u64;
        let iter = self.db.iterator_cf(log_cf, IteratorMode::From(&index_key(low), Direction::Forward));
        for item in iter {
            let (k, v) = item.map_err(|e| to_raft_err(e.into()))?;
            let index = decode_u64("log key", &k).map_err(to_raft_err)?;
            if index >= high {
                break;
            }
            size += v.len() as u64;
            // Always return at least one entry, whatever max_size says.
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(decode_pb::<Entry>("log entry", &v).map_err(to_raft_err)?);
        }
        if out.is_empty() || out[0].index != low {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.truncated_index {
            return Ok(self.truncated_term);
        }
        if idx < self.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entry(idx).map_err(to_raft_err)?.term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    /// A snapshot of the state machine at the applied index. Compaction
    /// never passes the applied index, so this index is at least the first
    /// index minus one, and the leader's log continues right after it.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.applied < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        let mut snap = Snapshot { data: self.snapshot_data().map_err(to_raft_err)?, ..Default::default() };
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = self.term(self.applied)?;
        meta.set_conf_state(self.conf_state.clone());
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, data: format!("e{index}").into_bytes(), ..Default::default() }
    }

    fn open(dir: &Path) -> Storage {
        Storage::open(dir).expect("open storage")
    }

    #[test]
    fn append_then_overwrite_conflicting_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, true).unwrap();
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 5));
        // A new leader overwrites 3..=5 with a shorter suffix of term 2.
        s.persist(None, &[entry(3, 2)], None, true).unwrap();
        assert_eq!(s.last_index().unwrap(), 3);
        assert_eq!(s.term(3).unwrap(), 2);
        assert_eq!(s.term(2).unwrap(), 1);
        drop(s);
        // The stale entries 4 and 5 must not come back after a restart.
        let s = open(dir.path());
        assert_eq!(s.last_index().unwrap(), 3);
        assert!(matches!(s.term(4), Err(raft::Error::Store(StorageError::Unavailable))));
        let got = s.entries(1, 4, None, GetEntriesContext::empty(false)).unwrap();
        assert_eq!(got.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(), vec![(1, 1), (2, 1), (3, 2)]);
    }

    #[test]
    fn entries_respect_max_size_but_return_at_least_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=10).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, false).unwrap();
        assert_eq!(s.entries(2, 11, Some(0), GetEntriesContext::empty(false)).unwrap().len(), 1);
        assert_eq!(s.entries(2, 11, None, GetEntriesContext::empty(false)).unwrap().len(), 9);
    }

    #[test]
    fn compaction_moves_first_index_and_keeps_the_boundary_term() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=10).map(|i| entry(i, i / 4 + 1)).collect::<Vec<_>>(), None, true).unwrap();
        s.commit_applied(Overlay::default(), 8).unwrap();
        s.compact(6).unwrap();
        assert_eq!(s.first_index().unwrap(), 7);
        assert_eq!(s.last_index().unwrap(), 10);
        assert_eq!(s.term(6).unwrap(), 6 / 4 + 1, "term at first_index - 1 stays known");
        assert!(matches!(s.term(5), Err(raft::Error::Store(StorageError::Compacted))));
        assert!(matches!(
            s.entries(5, 8, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        assert_eq!(s.entries(7, 11, None, GetEntriesContext::empty(false)).unwrap().len(), 4);
        drop(s);
        let s = open(dir.path());
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (7, 10));
        assert_eq!(s.term(6).unwrap(), 2);
    }

    #[test]
    fn hard_state_conf_state_and_applied_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        assert!(!s.is_initialized());
        s.bootstrap(vec![1, 2, 3]).unwrap();
        s.persist(None, &(1..=3).map(|i| entry(i, 2)).collect::<Vec<_>>(), None, true).unwrap();
        let hs = HardState { term: 2, vote: 3, commit: 2 };
        s.persist(None, &[], Some(&hs), true).unwrap();
        s.set_commit(3).unwrap();
        let mut overlay = Overlay::default();
        let cmd = faultline_proto::Command {
            request_id: 7,
            max_value_size: 0,
            op: Some(faultline_proto::command::Op::Put(faultline_proto::PutRequest {
                key: "k".into(),
                value: "v".into(),
            })),
        };
        crate::state_machine::apply(&s, &mut overlay, &cmd, 3).unwrap();
        s.commit_applied(overlay, 3).unwrap();
        drop(s);
        let s = open(dir.path());
        let st = s.initial_state().unwrap();
        assert_eq!((st.hard_state.term, st.hard_state.vote, st.hard_state.commit), (2, 3, 3));
        assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(s.applied(), 3);
        assert_eq!(s.kv_get(b"k").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn commit_is_raised_to_applied_after_a_crash_between_the_two_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=3).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, true).unwrap();
        s.commit_applied(Overlay::default(), 3).unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.hard_state().commit, 3);
    }

    #[test]
    fn snapshot_builds_and_installs_atomically() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = open(src_dir.path());
        src.bootstrap(vec![1, 2, 3]).unwrap();
        src.persist(None, &(1..=4).map(|i| entry(i, 3)).collect::<Vec<_>>(), None, true).unwrap();
        let mut overlay = Overlay::default();
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            let cmd = faultline_proto::Command {
                request_id: i as u64,
                max_value_size: 0,
                op: Some(faultline_proto::command::Op::Put(faultline_proto::PutRequest {
                    key: k.to_string().into(),
                    value: format!("v{i}").into(),
                })),
            };
            crate::state_machine::apply(&src, &mut overlay, &cmd, 4).unwrap();
        }
        src.commit_applied(overlay, 4).unwrap();
        let snap = src.snapshot(0, 2).unwrap();
        assert_eq!((snap.get_metadata().index, snap.get_metadata().term), (4, 3));

        // The receiver holds a stale key and a conflicting log; both go.
        let dst_dir = tempfile::tempdir().unwrap();
        let mut dst = open(dst_dir.path());
        dst.bootstrap(vec![1, 2, 3]).unwrap();
        dst.persist(None, &(1..=2).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, true).unwrap();
        let mut overlay = Overlay::default();
        let stale = faultline_proto::Command {
            request_id: 9,
            max_value_size: 0,
            op: Some(faultline_proto::command::Op::Put(faultline_proto::PutRequest {
                key: "stale".into(),
                value: "x".into(),
            })),
        };
        crate::state_machine::apply(&dst, &mut overlay, &stale, 1).unwrap();
        dst.commit_applied(overlay, 1).unwrap();
        dst.persist(Some(&snap), &[], None, true).unwrap();
        drop(dst);
        let dst = open(dst_dir.path());
        assert_eq!((dst.first_index().unwrap(), dst.last_index().unwrap()), (5, 4));
        assert_eq!(dst.term(4).unwrap(), 3);
        assert_eq!(dst.applied(), 4);
        assert_eq!(dst.hard_state().commit, 4);
        assert_eq!(dst.kv_get(b"b").unwrap(), Some(b"v1".to_vec()));
        assert_eq!(dst.kv_get(b"stale").unwrap(), None);
        assert_eq!(dst.conf_state().voters, vec![1, 2, 3]);
    }

    #[test]
    fn a_restart_refuses_a_log_whose_terms_go_down_or_that_has_a_hole() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, true).unwrap();
        // Entry 3 overwritten by a new leader's, without the delete of 4..=5
        // that must come with it.
        let log = s.db().cf_handle(CF_RAFT_LOG).unwrap();
        s.db().put_cf(log, index_key(3), entry(3, 2).encode_to_vec()).unwrap();
        drop(s);
        match Storage::open(dir.path()) {
            Err(StoreError::LogBroken { index: 4, detail }) => {
                assert!(detail.contains("term 1 is below entry 3's 2"), "{detail}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a log whose terms go down was accepted"),
        }

        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.persist(None, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>(), None, true).unwrap();
        let log = s.db().cf_handle(CF_RAFT_LOG).unwrap();
        s.db().delete_cf(log, index_key(3)).unwrap();
        drop(s);
        match Storage::open(dir.path()) {
            Err(e @ StoreError::LogBroken { index: 4, .. }) => {
                assert!(e.to_string().contains("entry 2 is followed by 4"), "{e}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a log with a hole was accepted"),
        }
    }
}
