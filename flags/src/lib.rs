//! Command-line value parsers that every binary shares (raftkv, nemesis,
//! checker), so a flag means the same thing everywhere.

use std::time::Duration;

/// Parses a duration with its unit, such as `100ms`, `2s`, `1m` or `1h 30m`.
/// A bare number is refused rather than guessed: `--tick-interval 100`
/// could mean milliseconds or seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 500ms, 10s or 2m: {e}"))
}

/// Parses a fraction: a finite number from 0 to 1, such as `0.05`.
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1, such as 0.05")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_is_finite_and_between_0_and_1() {
        assert_eq!(fraction("0.25"), Ok(0.25));
        assert_eq!(fraction("1"), Ok(1.0));
        for bad in ["NaN", "inf", "-0.1", "1.5", "half"] {
            let e = fraction(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("from 0 to 1"), "{e}");
        }
    }

    #[test]
    fn units_are_required_and_errors_name_the_input() {
        assert_eq!(duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        let e = duration("30").unwrap_err();
        assert!(e.contains("\"30\"") && e.contains("10s"), "{e}");
        assert!(duration("soon").is_err());
    }
}
