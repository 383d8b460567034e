//! The retention setting: how long the inbound log and delivery attempts are kept (the pruner that
//! applies it is `crate::retention`).

use std::time::Duration;

use super::time::parse_duration;

/// Days kept unless configured otherwise.
pub const DEFAULT_DAYS: u64 = 30;

/// Reads a retention setting: a whole number of days (`30`; `0` keeps everything), or a duration
/// with its unit (`36h`, `90m`, `2s`, see [`parse_duration`]) where a day is too coarse (tests,
/// small disks). `None` means keep everything.
pub fn parse(raw: &str) -> Result<Option<Duration>, String> {
    let raw = raw.trim();
    let age = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        let days: u64 = raw.parse().map_err(|_| format!("{raw:?}: too many days"))?;
        Duration::from_secs(days.checked_mul(86_400).ok_or("too many days")?)
    } else {
        parse_duration(raw)
            .map_err(|e| format!("{e}; expected a number of days such as 30, or 0 to keep all"))?
    };
    Ok((!age.is_zero()).then_some(age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_durations_and_keep_forever() {
        assert_eq!(parse("30"), Ok(Some(Duration::from_secs(30 * 86_400))));
        assert_eq!(parse(" 1 "), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse("0"), Ok(None));
        assert_eq!(parse("0s"), Ok(None));
        assert_eq!(parse("36h"), Ok(Some(Duration::from_secs(36 * 3600))));
        assert_eq!(parse("2s"), Ok(Some(Duration::from_secs(2))));
        assert!(parse("").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("a week").is_err());
        assert!(parse("99999999999999999999").is_err());
    }
}
