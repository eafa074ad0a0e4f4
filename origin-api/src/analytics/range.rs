//! The date range analytics are read over, as `?from=YYYY-MM-DD&to=YYYY-MM-DD`
//! (UTC days, both inclusive), parsed alike for the API and the dashboard.
//!
//! The API refuses a bad range (a script should learn its mistake); the
//! dashboard falls back to the default or clamps (a person fixes it in the
//! form, which shows the range actually read). Both read whole UTC days, so
//! totals across the retention boundary stay exact (see [`crate::analytics`]).

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;

/// The longest range, in days: about a quarter, enough for an event season
/// while keeping one read (and its hourly series of at most 2,208 hours) small.
pub const MAX_DAYS: u64 = 92;

/// The range when none is given: the last 7 days, today included.
pub const DEFAULT_DAYS: u64 = 7;

/// `from` and `to` as they arrive in the query string.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    /// First day (default: `DEFAULT_DAYS` days up to `to`).
    #[serde(default)]
    from: Option<String>,
    /// Last day (default: today).
    #[serde(default)]
    to: Option<String>,
}

/// Whole UTC days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

/// Why a range was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a `YYYY-MM-DD` date.
    #[error("`{0}` must be a date as YYYY-MM-DD")]
    Malformed(&'static str),
    /// `to` before `from`.
    #[error("`to` must not be before `from`")]
    Reversed,
    /// Longer than [`MAX_DAYS`].
    #[error("the range must span at most {MAX_DAYS} days")]
    TooLong,
}

impl RangeQuery {
    /// The range asked for, or why it cannot be read.
    pub fn strict(&self, today: NaiveDate) -> Result<DayRange, RangeError> {
        let to = day("to", self.to.as_deref())?.unwrap_or(today);
        let from = day("from", self.from.as_deref())?.unwrap_or_else(|| default_from(to));
        if to < from {
            return Err(RangeError::Reversed);
        }
        if earliest_from(to).is_some_and(|earliest| from < earliest) {
            return Err(RangeError::TooLong);
        }
        Ok(DayRange { from, to })
    }

    /// The range asked for, made readable: an unreadable date is the default,
    /// `from` after `to` is `to`, and a long range keeps its last [`MAX_DAYS`].
    pub fn lenient(&self, today: NaiveDate) -> DayRange {
        let to = day("to", self.to.as_deref()).ok().flatten().unwrap_or(today);
        let from =
            day("from", self.from.as_deref()).ok().flatten().unwrap_or_else(|| default_from(to)).min(to);
        let from = earliest_from(to).map_or(from, |earliest| from.max(earliest));
        DayRange { from, to }
    }
}

impl DayRange {
    /// Midnight UTC starting `from`.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// Midnight UTC ending `to` (exclusive end of the range).
    pub fn end(&self) -> DateTime<Utc> {
        // `day` only accepts four-digit years, so the next day always exists.
        self.to.checked_add_days(Days::new(1)).unwrap_or(self.to).and_time(NaiveTime::MIN).and_utc()
    }
}

/// A `YYYY-MM-DD` parameter; absent or blank is `None`. Exactly a four-digit
/// year: chrono alone would take years like `+200000`, which Postgres cannot
/// store and whose day arithmetic overflows.
fn day(name: &'static str, raw: Option<&str>) -> Result<Option<NaiveDate>, RangeError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let shaped = raw.len() == 10
        && raw
            .bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 4 | 7) { b == b'-' } else { b.is_ascii_digit() });
    if !shaped {
        return Err(RangeError::Malformed(name));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map(Some).map_err(|_| RangeError::Malformed(name))
}

fn default_from(to: NaiveDate) -> NaiveDate {
    to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(NaiveDate::MIN)
}

/// The first day a range ending on `to` may start on (`None`: any day, near the calendar's start).
fn earliest_from(to: NaiveDate) -> Option<NaiveDate> {
    to.checked_sub_days(Days::new(MAX_DAYS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery { from: from.map(str::to_string), to: to.map(str::to_string) }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn defaults_are_the_last_seven_days() {
        let today = d("2026-06-10");
        let range = DayRange { from: d("2026-06-04"), to: today };
        assert_eq!(q(None, None).strict(today), Ok(range));
        assert_eq!(q(Some(" "), Some("")).strict(today), Ok(range), "blank is absent");
        assert_eq!(q(None, None).lenient(today), range);
        assert_eq!(range.start(), "2026-06-04T00:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        assert_eq!(range.end(), "2026-06-11T00:00:00Z".parse::<DateTime<Utc>>().expect("t"));
    }

    #[test]
    fn strict_refuses_what_lenient_repairs() {
        let today = d("2026-06-10");
        for (from, to, err) in [
            (Some("2026-6-1"), None, RangeError::Malformed("from")),
            (None, Some("2026-02-30"), RangeError::Malformed("to")),
            (Some("+200000-01-01"), None, RangeError::Malformed("from")),
            (Some("2026-06-01T00:00:00Z"), None, RangeError::Malformed("from")),
            (Some("2026-06-05"), Some("2026-06-04"), RangeError::Reversed),
            (Some("2026-01-01"), Some("2026-06-01"), RangeError::TooLong),
        ] {
            assert_eq!(q(from, to).strict(today), Err(err), "{from:?} {to:?}");
        }
        assert_eq!(q(Some("bad"), None).lenient(today), q(None, None).lenient(today));
        assert_eq!(q(Some("2026-06-05"), Some("2026-06-04")).lenient(today).from, d("2026-06-04"));
        let long = q(Some("2026-01-01"), Some("2026-06-01")).lenient(today);
        assert_eq!((long.from, long.to), (d("2026-03-02"), d("2026-06-01")));
    }

    #[test]
    fn the_longest_range_is_max_days() {
        let today = d("2026-06-10");
        let longest = q(Some("2026-03-02"), Some("2026-06-01")).strict(today).expect("92 days");
        assert_eq!((longest.end() - longest.start()).num_days(), 92);
        assert_eq!(q(Some("2026-03-01"), Some("2026-06-01")).strict(today), Err(RangeError::TooLong));
        let edge = q(Some("0000-01-01"), Some("9999-12-31")).lenient(today);
        assert_eq!((edge.end() - edge.start()).num_days(), 92, "no overflow at the calendar's ends");
    }
}
