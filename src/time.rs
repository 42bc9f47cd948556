//! Time on the wire: RFC 3339 in UTC with a `Z`, to the second (`2024-01-01T00:00:00Z`), the
//! form the seeds' clients show.

use chrono::{NaiveDateTime, SecondsFormat};

/// Formats a stored UTC time for JSON.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Unix time in milliseconds as a stored UTC time (times before 1970 or past the calendar's
/// end are clamped to the epoch).
pub fn from_unix_ms(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .naive_utc()
}
