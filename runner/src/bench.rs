//! A closed-loop load generator over the Client protocol: each of N
//! clients issues its next operation as soon as the previous one is
//! answered, as etcd's benchmark tool does, so throughput and latency are
//! measured together. Only acknowledged operations count. The same
//! generator drives every system ([`StoreKind`]), so raftkv and etcd are
//! compared with one yardstick.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::store::StoreKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchOp {
    Write,
    /// A read as the store serves it by default: linearizable for raftkv
    /// and etcd.
    Read,
}

/// One point of a sweep.
#[derive(Clone, Debug)]
pub struct BenchSpec {
    pub op: BenchOp,
    pub clients: usize,
    pub duration: Duration,
    /// Bytes per written value.
    pub value_size: usize,
    /// Distinct keys.
    pub keys: u64,
}

/// What one point measured (one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// Labels that tell a sweep's points apart (`data_dirs=lossyfs`).
    #[serde(flatten)]
    pub tags: BTreeMap<String, String>,
    pub system: String,
    /// `tls` or `plaintext`: what the clients spoke.
    pub transport: String,
    pub op: BenchOp,
    pub clients: usize,
    pub value_size: usize,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Loads the cluster at `endpoints` for `spec.duration`; a client that
/// cannot connect counts as errors.
pub async fn run(kind: &StoreKind, endpoints: &[String], timeout: Duration, spec: &BenchSpec) -> BenchReport {
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut tasks = Vec::new();
    for worker in 0..spec.clients {
        let (kind, endpoints) = (kind.clone(), endpoints.to_vec());
        let (op, keys, value) = (spec.op, spec.keys.max(1), vec![b'x'; spec.value_size]);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut store = match kind.open(&endpoints, worker, timeout).await {
                Ok(s) => s,
                Err(_) => return (lat, 1),
            };
            let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
            while Instant::now() < deadline {
                let key = format!("bench-{}", rng.gen_range(0..keys));
                let t = Instant::now();
                let r = match op {
                    BenchOp::Write => store.put(key.as_bytes(), &value).await,
                    BenchOp::Read => store.get(key.as_bytes()).await.map(drop),
                };
                match r {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u32),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    // Microseconds from 1 µs to an hour, three significant digits.
    let mut lat = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            for us in l {
                lat.saturating_record(u64::from(us));
            }
            errors += e;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let ms = |us: u64| us as f64 / 1000.0;
    BenchReport {
        tags: BTreeMap::new(),
        system: kind.system().to_string(),
        transport: kind.transport().to_string(),
        op: spec.op,
        clients: spec.clients,
        value_size: spec.value_size,
        seconds,
        ok: lat.len(),
        errors,
        ops_per_sec: lat.len() as f64 / seconds,
        p50_ms: ms(lat.value_at_quantile(0.50)),
        p99_ms: ms(lat.value_at_quantile(0.99)),
        max_ms: ms(lat.max()),
    }
}
