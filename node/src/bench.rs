//! `raftkv bench`: a closed-loop load generator for a running cluster.
//!
//! Each of N clients issues its next operation as soon as the previous one
//! is answered, as etcd's benchmark tool does, so throughput and latency
//! are measured together. Only acknowledged operations count.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::client::tls::ClientTls;
use crate::client::Client;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchOp {
    Write,
    Read,
}

#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long to load the cluster.
    #[arg(long, default_value = "10s", value_parser = flags::duration)]
    pub duration: Duration,
    /// Bytes per written value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    #[arg(long, value_enum, default_value_t = BenchOp::Write)]
    pub op: BenchOp,
    /// KEY=VALUE copied into the report, to tell a sweep's points apart
    /// (`--tag data_dirs=lossyfs`). Repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = tag)]
    pub tags: Vec<(String, String)>,
}

fn tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    #[serde(flatten)]
    pub tags: BTreeMap<String, String>,
    /// `tls` or `plaintext`: what the clients spoke.
    pub transport: &'static str,
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

pub async fn run(endpoints: Vec<String>, timeout: Duration, tls: Option<ClientTls>, args: &BenchArgs) -> BenchReport {
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::new();
    for worker in 0..args.clients {
        let mut client = Client::new(endpoints.clone(), timeout).with_tls(tls.clone());
        let (op, keys, value) = (args.op, args.keys.max(1), vec![b'x'; args.value_size]);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let key = format!("bench-{}", rng.gen_range(0..keys));
                let t = Instant::now();
                let r = match op {
                    BenchOp::Write => client.put(key.as_bytes(), &value).await.map(|_| ()),
                    BenchOp::Read => client.get(key.as_bytes()).await.map(|_| ()),
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
        tags: args.tags.iter().cloned().collect(),
        transport: if tls.is_some() { "tls" } else { "plaintext" },
        op: args.op,
        clients: args.clients,
        value_size: args.value_size,
        seconds,
        ok: lat.len(),
        errors,
        ops_per_sec: lat.len() as f64 / seconds,
        p50_ms: ms(lat.value_at_quantile(0.50)),
        p99_ms: ms(lat.value_at_quantile(0.99)),
        max_ms: ms(lat.max()),
    }
}
