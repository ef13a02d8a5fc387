//! Command-line value parsers that every binary shares (raftkv, nemesis,
//! checker), so a flag means the same thing everywhere.

use std::time::Duration;

/// Parses a duration with its unit, such as `100ms`, `2s`, `1m` or `1h 30m`.
/// A bare number is refused rather than guessed: `--tick-interval 100`
/// could mean milliseconds or seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 500ms, 10s or 2m: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required_and_errors_name_the_input() {
        assert_eq!(duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        let e = duration("30").unwrap_err();
        assert!(e.contains("\"30\"") && e.contains("10s"), "{e}");
        assert!(duration("soon").is_err());
    }
}
