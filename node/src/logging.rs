//! Log set-up: a tracing subscriber on stderr (text or JSON), and a slog
//! drain that forwards raft-rs's own logs into it, so one filter and one
//! format cover everything the node says.

use std::fmt::Write as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogColor, LogFormat};

/// Installs the global subscriber. `filter` is a level or an EnvFilter
/// directive; a bad one is an error naming it.
pub fn init(format: LogFormat, filter: &str, color: LogColor) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("--log-level {filter:?}: {e}"))?;
    let ansi = match color {
        LogColor::Always => true,
        LogColor::Never => false,
        LogColor::Auto => std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second init (tests start several nodes in one process) is harmless.
    let _ = result;
    Ok(())
}

/// A slog logger whose records become tracing events with target `raft`.
pub fn raft_logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let mut kv = KvText(String::new());
        let _ = slog::KV::serialize(&record.kv(), record, &mut kv);
        let _ = slog::KV::serialize(values, record, &mut kv);
        let msg = record.msg();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => tracing::error!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Warning => tracing::warn!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Info => tracing::info!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Debug => tracing::debug!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Trace => tracing::trace!(target: "raft", "{msg}{}", kv.0),
        }
        Ok(())
    }
}

/// Renders slog key-values as ` key=value` pairs.
struct KvText(String);

impl slog::Serializer for KvText {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}
