//! The model trait: a sequential specification of one key, as data plus a
//! step function (Porcupine's shape). Adding a model is one new file; the
//! search never changes.

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::{Op, OpType, Value};

/// An operation as the search sees it: the history op plus its deadline.
#[derive(Clone, Debug)]
pub struct SearchOp {
    pub op: Op,
    /// The op must be linearized before this position (its completion, or
    /// an earlier deadline derived by [`Model::prepare`]); `None`: it may
    /// be left out entirely (an info op that stayed optional).
    pub deadline: Option<u64>,
}

/// The models by name: what `--model` and `--workload` take, and what
/// results and test records say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelName {
    Register,
    ListAppend,
    /// Both kinds of key in one history: a key with appends is a list,
    /// any other a register ([`crate::check::check_mixed`]).
    Mixed,
}

impl ModelName {
    /// The name as the command line and results spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::Register => "register",
            ModelName::ListAppend => "list-append",
            ModelName::Mixed => "mixed",
        }
    }

    /// The model of one key: `key`'s kind in the mixed workload (odd keys
    /// are lists), else the model itself.
    pub fn of_key(self, key: i64) -> ModelName {
        match self {
            ModelName::Mixed if key.rem_euclid(2) == 1 => ModelName::ListAppend,
            ModelName::Mixed => ModelName::Register,
            m => m,
        }
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an op can never be linearized, found by [`Model::contradiction`].
#[derive(Clone, Debug)]
pub struct Contradiction<S> {
    /// The op that can never be linearized.
    pub blocked: usize,
    /// Why, as the end of a sentence that begins with the op: "but write
    /// 2 (events 2–3) overwrote 1 before it began, …".
    pub reason: String,
    /// A state the ops that rule it out leave, which `blocked` cannot see.
    pub state: S,
}

/// A sequential specification of one key.
pub trait Model: Sync + Send {
    type State: Clone + Eq + Hash + Debug + Send;

    /// Which model this is, as the command line and results name it.
    fn name(&self) -> ModelName;

    /// Which operations this model knows.
    fn accepts(f: OpType) -> bool
    where
        Self: Sized;

    /// The state of a key nobody has written.
    fn init(&self) -> Self::State;

    /// The state after `op`, or `None` when `op` cannot happen in `state`.
    /// For an info op this is the "it took effect" branch only: "it never
    /// took effect" is the search leaving it out.
    fn step(&self, state: &Self::State, op: &Op) -> Option<Self::State>;

    /// A state as a value, for reports.
    fn describe(&self, state: &Self::State) -> Value;

    /// Bookkeeping over the ops not yet linearized, kept by the search
    /// through [`Model::mark`] and asked by [`Model::stranded`].
    type Pending: Send;

    /// The bookkeeping for `ops` with none of them linearized yet.
    fn pending(&self, ops: &[SearchOp]) -> Self::Pending;

    /// Op `i` of the `ops` given to [`Model::pending`] was linearized
    /// (`on`), or the search took it back.
    fn mark(&self, pending: &mut Self::Pending, i: usize, on: bool);

    /// Whether op `op`'s step `from` → `to` (already marked) leaves some
    /// op with a deadline that no continuation can linearize any more.
    /// Must be exact: true only when every continuation fails, so the
    /// search can refuse the step.
    fn stranded(&self, pending: &Self::Pending, op: usize, from: &Self::State, to: &Self::State) -> bool;

    /// One op that [`Model::stranded`]'s step strands, for explanations.
    fn stranded_op(&self, pending: &Self::Pending, op: usize, from: &Self::State, to: &Self::State) -> usize;

    /// Whether `op` is a read in the sense the search's read rule needs:
    /// whenever it is legal in a state `s` and leaves `s` unchanged, it
    /// also leaves unchanged every state reachable from `s` in which it is
    /// legal (see [`crate::wgl`]).
    fn is_read(&self, op: &Op) -> bool;

    /// A proof, found without searching, that no linearization exists: an
    /// op that the ops real time puts before it rule out in every order.
    /// Must be exact: `Some` only when the history is not linearizable.
    /// It decides, in linear time, the invalid histories whose search
    /// would have to exhaust everything before the culprit.
    fn contradiction(&self, ops: &[SearchOp]) -> Option<Contradiction<Self::State>>;

    /// An exact verdict found without searching, for the histories the
    /// model can decide directly (the register's unique values:
    /// [`crate::versions`]); `None` leaves the history to the search.
    /// Must be exact both ways.
    fn decide(&self, _ops: &[SearchOp]) -> Option<Result<(), Contradiction<Self::State>>> {
        None
    }

    /// For each op, whether it has a deadline yet no later op can tell
    /// whether it ran: dropping it from any valid linearization leaves one
    /// (a write whose value nobody reads). The memo lets a configuration
    /// that linearized more of these stand for one that linearized fewer.
    fn droppable(&self, ops: &[SearchOp]) -> Vec<bool>;

    /// A state as the memo keys it, given what is not yet linearized:
    /// `None` stands for every state that no op left can tell apart (a
    /// register holding a value nobody left reads or expects), so that
    /// configurations differing only in such a state share one memo entry.
    /// Must be exact: `None` only when every op left steps alike from all
    /// such states. By default every state is its own key.
    fn memo_state(&self, _pending: &Self::Pending, state: &Self::State) -> Option<Self::State> {
        Some(state.clone())
    }

    /// Turns a key's ops into search ops. The default keeps every op, with
    /// ok ops due by their completion and info ops optional. Models may
    /// drop info ops that can never change the verdict, or give them a
    /// deadline when some ok op could not have happened without them;
    /// either must preserve the verdict exactly (see the models' docs).
    fn prepare(&self, ops: &[Op]) -> Vec<SearchOp> {
        ops.iter().map(|op| SearchOp { deadline: crate::model::ok_deadline(op), op: op.clone() }).collect()
    }
}

/// The plain deadline: an ok op's completion, none for an info op.
pub fn ok_deadline(op: &Op) -> Option<u64> {
    (op.complete != crate::history::NEVER).then_some(op.complete)
}
