//! `checker run`: concurrent clients against a cluster, recording what they
//! saw as a history (each outcome classified as [`crate::client`] says),
//! then checking it.
//!
//! After the main phase and a recovery wait, fresh processes read every
//! key touched, with retries, until each read succeeds or a deadline
//! passes. The history is then checked with the same engine as
//! `checker check`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{Store, StoreKind};
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::client::{perform, perform_txn, run_prefix};
use crate::recorder::{Recorder, RecorderError};
use crate::txn::{TxnGenerator, TxnOptions};
use crate::workload::{Generator, Invocation, Workload, WorkloadOptions};
use checker::check::CheckOptions;
use checker::history::{EventType, OpType, Value};
use checker::input::{check_history, load_history};
use checker::model::ModelName;
use checker::results::{clip_line, InternalErrors, Latency, Results, ResultsFile, RunStats, Validity};
use checker::txn::{self, Mop, TxnResults};

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub endpoints: Vec<String>,
    /// The system's client: raftkv (with its TLS) or etcd.
    pub store: StoreKind,
    pub workload: Workload,
    pub mix: WorkloadOptions,
    /// For transactions: their lengths and the model claimed.
    pub txn: TxnOptions,
    pub concurrency: usize,
    /// Target ops per second over all workers; 0 means as fast as possible.
    pub rate: f64,
    pub duration: Duration,
    /// Per-op timeout.
    pub timeout: Duration,
    /// Pause between the main phase and the final reads.
    pub recovery_wait: Duration,
    /// How long the final reads may retry.
    pub final_read_deadline: Duration,
    /// How long to wait for the cluster to serve a first read.
    pub connect_deadline: Duration,
    pub seed: u64,
    pub out: PathBuf,
    pub force: bool,
    pub check: CheckOptions,
    /// Show a progress bar (on a TTY) or plain progress lines.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "cluster unreachable: no node of {endpoints} served a read within {within:?} (last error: {last}); \
         nothing was recorded"
    )]
    Unreachable { endpoints: String, within: Duration, last: String },
    #[error(transparent)]
    Recorder(#[from] RecorderError),
    #[error("{0}")]
    Output(String),
    #[error("checking the recorded history: {0}")]
    Check(String),
    /// An option that cannot work, caught before anything runs.
    #[error("{0}")]
    Invalid(String),
}

pub struct RunOutcome {
    pub stats: RunStats,
    pub results: Results,
    /// For a run of transactions, the isolation check.
    pub txn: Option<TxnResults>,
}

/// Live counters for progress lines.
#[derive(Default)]
struct Live {
    ok: AtomicU64,
    fail: AtomicU64,
    info: AtomicU64,
}

/// One completed op, as the worker saw it.
struct Sample {
    f: OpType,
    kind: EventType,
    latency_ns: u64,
}

/// Where the ops come from.
enum Ops {
    /// Single-key ops.
    Keys(Generator),
    Txns(TxnGenerator),
}

/// What a worker does next.
enum Next {
    Op(Invocation),
    Txn(Vec<Mop>),
}

impl Ops {
    fn next(&mut self) -> Next {
        match self {
            Ops::Keys(g) => Next::Op(g.next_op()),
            Ops::Txns(g) => Next::Txn(g.next_txn()),
        }
    }

    fn keys_touched(&self) -> i64 {
        match self {
            Ops::Keys(g) => g.keys_touched(),
            Ops::Txns(g) => g.keys_touched(),
        }
    }
}

/// Shared by all workers.
struct Shared {
    opts: RunOptions,
    recorder: Recorder,
    generator: Mutex<Ops>,
    next_process: AtomicU64,
    key_prefix: String,
    live: Live,
    /// list-append: acknowledged elements per key.
    acked: Mutex<HashMap<i64, Vec<i64>>>,
    /// Transactions: what each final read found, per key.
    final_lists: Mutex<HashMap<i64, Value>>,
    /// Answers in which the system said it broke an invariant of its own.
    internal: Mutex<InternalErrors>,
}

impl Shared {
    fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Invokes, performs and completes one op; returns the completion type.
    async fn op(&self, client: &mut dyn Store, process: u64, inv: &Invocation, samples: &mut Vec<Sample>) -> EventType {
        let w = self.opts.workload.values();
        let t0 = self.recorder.record(process, EventType::Invoke, inv.f, inv.key, inv.value.clone(), None);
        let c = perform(client, w, &self.key_prefix, inv).await;
        if c.internal {
            self.internal.lock().unwrap().add(format!(
                "{} of key {}: {}",
                inv.f,
                inv.key,
                c.error.as_deref().unwrap_or("")
            ));
        }
        let t1 = self.recorder.record(process, c.kind, inv.f, inv.key, c.value.clone(), c.error);
        self.count(samples, Sample { f: inv.f, kind: c.kind, latency_ns: t1.saturating_sub(t0) });
        if let (EventType::Ok, OpType::Append, Value::Int(e)) = (c.kind, inv.f, &inv.value) {
            self.acked.lock().unwrap().entry(inv.key).or_default().push(*e);
        }
        c.kind
    }

    /// Invokes, performs and completes one transaction; returns the
    /// completion type and, when ok, its micro-ops with the reads filled.
    async fn txn(
        &self,
        client: &mut dyn Store,
        process: u64,
        ops: &[Mop],
        samples: &mut Vec<Sample>,
    ) -> (EventType, Vec<Mop>) {
        let t0 = self.recorder.record_event(process, EventType::Invoke, "txn", None, txn::txn_value(ops), None);
        let (c, done) = perform_txn(client, &self.key_prefix, ops).await;
        if c.internal {
            self.internal.lock().unwrap().add(format!("txn: {}", c.error.as_deref().unwrap_or("")));
        }
        let t1 = self.recorder.record_event(process, c.kind, "txn", None, c.value, c.error);
        self.count(samples, Sample { f: OpType::Txn, kind: c.kind, latency_ns: t1.saturating_sub(t0) });
        if c.kind == EventType::Ok {
            let mut acked = self.acked.lock().unwrap();
            for m in &done {
                if let Mop::Append { key: Value::Int(k), elem: Value::Int(e) } = m {
                    acked.entry(*k).or_default().push(*e);
                }
            }
        }
        (c.kind, done)
    }

    fn count(&self, samples: &mut Vec<Sample>, s: Sample) {
        let counter = match s.kind {
            EventType::Ok => &self.live.ok,
            EventType::Fail => &self.live.fail,
            _ => &self.live.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        samples.push(s);
    }

    /// A client bound to one node (worker i to node i mod n), as Jepsen
    /// binds its clients: reads and writes reach followers first, so a node
    /// that answers what it should redirect is exercised. A client that
    /// connects when opened (NATS's) cannot be opened while its node is
    /// down, so opening is tried again until `until`; the worker records
    /// nothing meanwhile, and says why if it never opens.
    async fn client(&self, home: usize, until: Instant) -> Option<Box<dyn Store>> {
        loop {
            match self.opts.store.open(&self.opts.endpoints, home, self.opts.timeout).await {
                Ok(s) => return Some(s),
                Err(e) if Instant::now() >= until => {
                    eprintln!("checker run: worker {home}: cannot open a {} client: {e}", self.opts.store.system());
                    return None;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

async fn worker(shared: Arc<Shared>, id: usize, end: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(shared.opts.seed ^ (id as u64).wrapping_mul(0x9E37_79B9));
    let mut process = shared.new_process();
    let Some(mut client) = shared.client(id, end).await else { return samples };
    // Jepsen's stagger: a uniform wait averaging concurrency/rate.
    let mean_gap = (shared.opts.rate > 0.0).then(|| shared.opts.concurrency as f64 / shared.opts.rate);
    loop {
        if let Some(gap) = mean_gap {
            let wait = Duration::from_secs_f64(rng.gen_range(0.0..2.0 * gap));
            if Instant::now() + wait >= end {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        if Instant::now() >= end {
            break;
        }
        let next = shared.generator.lock().unwrap().next();
        let kind = match next {
            Next::Op(inv) => shared.op(client.as_mut(), process, &inv, &mut samples).await,
            Next::Txn(ops) => shared.txn(client.as_mut(), process, &ops, &mut samples).await.0,
        };
        if kind == EventType::Info {
            process = shared.new_process();
        }
    }
    samples
}

/// Reads keys from the queue, each by a fresh process, retrying until the
/// read succeeds or `deadline`. In a run of transactions each read is a
/// transaction of one read.
async fn final_reader(shared: Arc<Shared>, id: usize, keys: Arc<Mutex<Vec<i64>>>, deadline: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    let Some(mut client) = shared.client(id, deadline).await else { return samples };
    let txns = shared.opts.workload.is_txn();
    let register = shared.opts.workload == Workload::TxnRwRegister;
    loop {
        let Some(key) = keys.lock().unwrap().pop() else { break };
        let process = shared.new_process();
        let inv = Invocation { f: OpType::Read, key, value: Value::Nil };
        while Instant::now() < deadline {
            let t = Instant::now();
            let read = if txns {
                let ops = match register {
                    true => [Mop::Get { key: Value::Int(key), value: None }],
                    false => [Mop::Read { key: Value::Int(key), list: None }],
                };
                let (kind, done) = shared.txn(client.as_mut(), process, &ops, &mut samples).await;
                let found = match &done[..] {
                    [Mop::Read { list: Some(l), .. }] => Some(Value::List(l.to_vec().into())),
                    [Mop::Get { value: Some(v), .. }] => Some(v.clone()),
                    _ => None,
                };
                if let Some(v) = found {
                    shared.final_lists.lock().unwrap().insert(key, v);
                }
                kind
            } else {
                shared.op(client.as_mut(), process, &inv, &mut samples).await
            };
            if read == EventType::Ok {
                break;
            }
            // Pace retries a little: the cluster may still be electing.
            tokio::time::sleep_until(t + Duration::from_millis(100)).await;
        }
    }
    samples
}

/// Prepares the system (a NATS bucket) and waits until a node serves a
/// read.
async fn probe(opts: &RunOptions) -> Result<(), RunError> {
    let deadline = Instant::now() + opts.connect_deadline;
    let unreachable = |last: String| RunError::Unreachable {
        endpoints: opts.endpoints.join(","),
        within: opts.connect_deadline,
        last,
    };
    loop {
        let ready = match opts.store.open(&opts.endpoints, 0, opts.timeout).await {
            Ok(mut client) => match client.prepare().await {
                Ok(()) => client.get(b"faultline-probe").await.map(drop),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match ready {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(unreachable(e.to_string())),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Prints progress every `every` until `end`.
async fn progress(shared: Arc<Shared>, start: Instant, end: Instant) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let total = end.duration_since(start).as_secs().max(1);
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {eta} left  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    });
    let every = if tty { Duration::from_millis(500) } else { Duration::from_secs(5) };
    let mut last_ops = 0u64;
    let mut last_t = start;
    loop {
        tokio::time::sleep(every).await;
        let now = Instant::now();
        let (ok, fail, info) = (
            shared.live.ok.load(Ordering::Relaxed),
            shared.live.fail.load(Ordering::Relaxed),
            shared.live.info.load(Ordering::Relaxed),
        );
        let ops = ok + fail + info;
        let rate = (ops - last_ops) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9);
        (last_ops, last_t) = (ops, now);
        let msg = format!("{ops} ops  ok {ok}  fail {fail}  info {info}  {rate:.0} ops/s");
        match &bar {
            Some(b) => {
                b.set_position(now.duration_since(start).as_secs().min(total));
                b.set_message(msg);
            }
            None => eprintln!(
                "checker run: {:>4}s of {total}s  {msg}",
                now.saturating_duration_since(start).as_secs().min(total)
            ),
        }
        if now >= end {
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            return;
        }
    }
}

/// Runs the whole thing: probe, main phase, recovery wait, final reads,
/// check. The history is in `out/history.jsonl` and the verdict in
/// `out/results.json`.
impl RunOptions {
    /// Refuses options that cannot work, naming the option.
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |msg: String| Err(RunError::Invalid(msg));
        let endpoint_ok =
            |e: &String| e.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if self.endpoints.is_empty() || !self.endpoints.iter().all(endpoint_ok) {
            return bad(format!("--endpoints {:?}: each must be HOST:PORT", self.endpoints.join(",")));
        }
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1".into());
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return bad(format!("--rate {}: must be 0 (unlimited) or a positive number", self.rate));
        }
        if self.timeout.is_zero() {
            return bad("--timeout must be positive".into());
        }
        Ok(())
    }
}

pub async fn run(opts: RunOptions) -> Result<RunOutcome, RunError> {
    opts.mix.validate(opts.workload.values()).map_err(RunError::Output)?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| RunError::Output(format!("creating --out {}: {e}", opts.out.display())))?;
    let history_path = opts.out.join("history.jsonl");
    if !opts.force && std::fs::metadata(&history_path).map(|m| m.len() > 0).unwrap_or(false) {
        return Err(RecorderError::Exists(history_path).into());
    }
    probe(&opts).await?;
    let recorder = Recorder::create(&history_path, opts.force)?;
    let shared = Arc::new(Shared {
        generator: Mutex::new(match opts.workload.model() {
            Some(model) => Ops::Keys(Generator::new(model, opts.mix.clone(), opts.seed)),
            None => Ops::Txns(TxnGenerator::new(
                opts.mix.clone(),
                &opts.txn,
                opts.workload == Workload::TxnRwRegister,
                opts.seed,
            )),
        }),
        recorder,
        next_process: AtomicU64::new(0),
        key_prefix: run_prefix(opts.seed),
        live: Live::default(),
        acked: Mutex::new(HashMap::new()),
        internal: Mutex::new(InternalErrors::default()),
        final_lists: Mutex::new(HashMap::new()),
        opts,
    });
    let opts = &shared.opts;
    let start = Instant::now();
    let end = start + opts.duration;
    let progress_task = opts.progress.then(|| tokio::spawn(progress(shared.clone(), start, end)));
    let workers: Vec<_> = (0..opts.concurrency).map(|i| tokio::spawn(worker(shared.clone(), i, end))).collect();
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.expect("worker panicked"));
    }
    let main_elapsed = start.elapsed();
    if let Some(p) = progress_task {
        let _ = p.await;
    }

    tokio::time::sleep(opts.recovery_wait).await;
    let keys_touched = shared.generator.lock().unwrap().keys_touched();
    let queue = Arc::new(Mutex::new((0..keys_touched).rev().collect::<Vec<i64>>()));
    let deadline = Instant::now() + opts.final_read_deadline;
    let readers: Vec<_> = (0..opts.concurrency.min(keys_touched.max(1) as usize))
        .map(|i| tokio::spawn(final_reader(shared.clone(), i, queue.clone(), deadline)))
        .collect();
    for r in readers {
        samples.extend(r.await.expect("final reader panicked"));
    }
    shared.recorder.finish()?;

    // Check what is in the file: exactly what `checker check` (or
    // `checker txn`) would see.
    let text = std::fs::read_to_string(&history_path)
        .map_err(|e| RunError::Output(format!("{}: {e}", history_path.display())))?;
    let (events, lines) = checker::history::parse_jsonl(&text).map_err(|e| RunError::Check(e.to_string()))?;
    drop(text);
    let (results, txn_results, first_bad) = match opts.workload.model() {
        Some(model) => {
            let history = load_history(&history_path, None).map_err(|e| RunError::Check(e.to_string()))?;
            let results =
                check_history(&history, Some(model), &opts.check).map_err(|e| RunError::Check(e.to_string()))?;
            // How long into the run the first op that could not be
            // linearized was invoked: the time-to-invalid of the
            // unsafe-mode table.
            let first_bad = results.failures.iter().map(|f| f.op.invoke_index).min();
            (results, None, first_bad)
        }
        None => {
            let history = txn::pair_txns(&events, &lines).map_err(|e| RunError::Check(e.to_string()))?;
            let r = txn::check(&history, opts.txn.consistency_model).map_err(|e| RunError::Check(e.to_string()))?;
            let first_bad = r
                .anomalies
                .iter()
                .filter(|a| opts.txn.consistency_model.prohibits(a.class))
                .flat_map(|a| a.txns.iter().map(|&t| history.txns[t].index))
                .min();
            (txn_verdict(&r, opts.workload.values(), events.len()), Some(r), first_bad)
        }
    };

    // Final reads: the last ok read per key from the history's final phase.
    let finals = match opts.workload.is_txn() {
        true => std::mem::take(&mut *shared.final_lists.lock().unwrap()),
        false => final_reads(&events),
    };

    let mut stats = RunStats {
        key_prefix: shared.key_prefix.clone(),
        duration_s: main_elapsed.as_secs_f64(),
        keys: keys_touched,
        ..Default::default()
    };
    // Nanoseconds from 1 ns to an hour, three significant digits; longer
    // latencies (none: ops time out) would count as an hour.
    let mut lat = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
    for s in &samples {
        *stats.counts.entry(s.f).or_default().entry(s.kind).or_default() += 1;
        if s.kind == EventType::Ok {
            lat.saturating_record(s.latency_ns);
        }
    }
    stats.ops = samples.len() as u64;
    stats.ops_per_s = stats.ops as f64 / main_elapsed.as_secs_f64().max(1e-9);
    let ms = |ns: u64| ns as f64 / 1e6;
    stats.latency_ms = Latency {
        p50: ms(lat.value_at_quantile(0.50)),
        p95: ms(lat.value_at_quantile(0.95)),
        p99: ms(lat.value_at_quantile(0.99)),
        max: ms(lat.max()),
    };
    if let (Some(idx), Some(t0)) = (first_bad, events.first().map(|e| e.time)) {
        stats.time_to_invalid_s = events.iter().find(|e| e.index == idx).map(|e| (e.time - t0) as f64 / 1e9);
    }
    stats.internal_errors = std::mem::take(&mut *shared.internal.lock().unwrap());
    stats.final_reads_ok = finals.len() as u64;
    stats.final_reads_missing = (0..keys_touched).filter(|k| !finals.contains_key(k)).collect();
    if opts.workload.values() != ModelName::Register {
        stats.lost_writes = lost_appends(&shared.acked.lock().unwrap(), &finals);
        stats.lost_write_count = stats.lost_writes.values().map(Vec::len).sum();
    }

    let file = ResultsFile { check: results, run: Some(stats), txn: txn_results };
    let path = opts.out.join("results.json");
    checker::input::write_json(&path, &file)
        .map_err(|e| RunError::Output(format!("writing {}: {e}", path.display())))?;
    let ResultsFile { check: results, run, txn } = file;
    Ok(RunOutcome { stats: run.expect("set above"), results, txn })
}

/// The verdict of an isolation check as `results.json` gives every run's:
/// valid or not, and the summary. The anomalies themselves are in its
/// `txn` part; there are no per-key results.
fn txn_verdict(r: &TxnResults, values: ModelName, events: usize) -> Results {
    let count = |n: usize| n as u64;
    let op_counts = [(
        OpType::Txn,
        [(EventType::Ok, count(r.ok)), (EventType::Info, count(r.info)), (EventType::Fail, count(r.fail))],
    )]
    .into_iter()
    .map(|(f, by)| (f, by.into_iter().filter(|(_, n)| *n > 0).collect()))
    .collect();
    Results {
        valid: if r.valid { Validity::Valid } else { Validity::Invalid },
        model: values,
        summary: r.summary(),
        events,
        ops_checked: r.txns,
        keys_checked: 0,
        invalid_keys: Vec::new(),
        unknown_keys: Vec::new(),
        op_counts,
        check_time_ms: r.check_time_ms,
        keys: Vec::new(),
        failures: Vec::new(),
    }
}

/// The acknowledged appends of each key that its final read lacks. A key
/// read back absent (nil) has lost every append: a store that forgot the
/// key is the worst loss, not a key to skip. A key with no ok final read
/// proves nothing and is left out (`final_reads_missing` names it).
fn lost_appends(acked: &HashMap<i64, Vec<i64>>, finals: &HashMap<i64, Value>) -> BTreeMap<i64, Vec<i64>> {
    let mut out = BTreeMap::new();
    for (key, acked) in acked {
        let read: &[Value] = match finals.get(key) {
            Some(Value::List(read)) => read,
            Some(Value::Nil) => &[],
            _ => continue,
        };
        let lost: Vec<i64> = acked.iter().copied().filter(|e| !read.contains(&Value::Int(*e))).collect();
        if !lost.is_empty() {
            out.insert(*key, lost);
        }
    }
    out
}

/// The value of the last ok read of each key among the final reads: the
/// reads after the main phase, which are the last events of each key.
fn final_reads(events: &[checker::history::Event]) -> HashMap<i64, Value> {
    let mut last_any: HashMap<i64, usize> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(Value::Int(k)) = e.key {
            last_any.insert(k, i);
        }
    }
    // Only a read with no op of the key after it is a final read.
    let mut out = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let Some(Value::Int(k)) = e.key else { continue };
        if e.kind == EventType::Ok && e.f == "read" && last_any.get(&k) == Some(&i) {
            out.insert(k, e.value.clone());
        }
    }
    out
}

/// The human summary printed at the end.
pub fn summary(o: &RunOutcome, workload: Workload) -> String {
    let s = &o.stats;
    let mut out = format!("{} ops in {:.1} s ({:.0} ops/s)\n", s.ops, s.duration_s, s.ops_per_s);
    for (f, by) in &s.counts {
        let n = |t: EventType| by.get(&t).copied().unwrap_or(0);
        out.push_str(&format!(
            "  {:<7} ok {:>7}  fail {:>7}  info {:>7}\n",
            f.as_str(),
            n(EventType::Ok),
            n(EventType::Fail),
            n(EventType::Info)
        ));
    }
    let l = &s.latency_ms;
    out.push_str(&format!(
        "latency of ok ops (ms): p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}\n",
        l.p50, l.p95, l.p99, l.max
    ));
    out.push_str(&format!("final reads: {} of {} keys", s.final_reads_ok, s.keys));
    if !s.final_reads_missing.is_empty() {
        out.push_str(&format!(" (no successful final read of {} keys)", s.final_reads_missing.len()));
    }
    out.push('\n');
    if workload.values() != ModelName::Register {
        out.push_str(&format!("lost writes: {}", s.lost_write_count));
        if let Some((k, v)) = s.lost_writes.iter().next() {
            let example = format!(" (e.g. key {k}: acknowledged appends {v:?} missing from the final read)");
            out.push_str(&clip_line(&example, "the run's results.json"));
        }
        out.push('\n');
    }
    // The run's results.json holds the whole text of what is cut here.
    let whole = "the run's results.json";
    out.push_str(&format!("verdict: {}", clip_line(&o.results.summary, whole)));
    for f in o.results.failures.iter().take(5) {
        out.push_str(&format!("\n  key {}: {}", f.key, clip_line(&f.explanation, whole)));
    }
    if let Some(t) = &o.txn {
        // One example of each class the model rules out.
        let mut shown = std::collections::BTreeSet::new();
        for a in t.anomalies.iter().filter(|a| t.model.prohibits(a.class) && shown.insert(a.class)).take(5) {
            out.push_str(&format!("\n  {}: {}", a.class.name(), clip_line(&a.explanation, whole)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_read_back_absent_has_lost_every_acknowledged_append() {
        let acked = HashMap::from([(1, vec![1, 2, 3]), (2, vec![4, 5]), (3, vec![6]), (4, vec![7])]);
        let finals = HashMap::from([
            // Kept all of key 1's appends.
            (1, Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)].into())),
            // Forgot key 2 altogether.
            (2, Value::Nil),
            // Lost key 3's only append.
            (3, Value::List(Vec::new().into())),
            // Key 4 has no final read: nothing is known.
        ]);
        let lost = lost_appends(&acked, &finals);
        assert_eq!(lost, BTreeMap::from([(2, vec![4, 5]), (3, vec![6])]));
    }
}
