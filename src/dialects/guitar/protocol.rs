//! VirtuTune's frames (seeds/001): every frame is `{"type": T, "data": {…}}`.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

/// Longest chord name accepted.
pub const MAX_CHORD_LEN: usize = 16;

/// How far a client's practice `timestamp` may be from the server's clock, either way. Phone
/// clocks are off by seconds or minutes; a time further away is a bug or an attempt to store
/// nonsense (a start in year 0 made a 2,000-year practice run, a time in year 10000 could not
/// be written back as RFC 3339), so it is refused with an `error` frame.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::days(1);

/// What a phone or PC sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    /// A chord was tapped.
    ChordChange {
        /// A valid chord name.
        chord: String,
    },
    /// Practice begins (at the client's time when given).
    PracticeStart {
        /// The client's RFC 3339 time, in UTC.
        timestamp: Option<NaiveDateTime>,
    },
    /// Practice ends.
    PracticeEnd {
        /// The client's RFC 3339 time, in UTC.
        timestamp: Option<NaiveDateTime>,
    },
    /// A round-trip measurement; `timestamp` comes back unchanged.
    Ping {
        /// Whatever the client sent as `data.timestamp`.
        timestamp: Value,
    },
}

/// Why a frame was refused; sent back as `{"type":"error","data":{"message":…}}`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON.
    #[error("invalid JSON")]
    NotJson,
    /// Not an object with a string `type`.
    #[error("expected {{\"type\": \"…\", \"data\": {{…}}}}")]
    NoType,
    /// `data` present but not an object.
    #[error("data must be an object")]
    DataNotObject,
    /// A type this protocol does not have.
    #[error("unknown type: {0}")]
    UnknownType(String),
    /// `chord_change` without a string `chord`.
    #[error("chord is required")]
    NoChord,
    /// A chord name that is not one.
    #[error("invalid chord: {0}")]
    BadChord(String),
    /// A `timestamp` that is not RFC 3339.
    #[error("invalid timestamp")]
    BadTimestamp,
    /// A `timestamp` more than [`MAX_CLOCK_SKEW`] from the server's clock.
    #[error("timestamp out of range: more than a day from the server's clock")]
    TimestampOutOfRange,
}

fn shown(s: &str) -> String {
    s.chars().take(32).collect()
}

fn timestamp(
    data: &serde_json::Map<String, Value>,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, FrameError> {
    let at = match data.get("timestamp") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .map_err(|_| FrameError::BadTimestamp)?,
        Some(_) => return Err(FrameError::BadTimestamp),
    };
    if (at - now).abs() > MAX_CLOCK_SKEW {
        return Err(FrameError::TimestampOutOfRange);
    }
    Ok(Some(at))
}

/// Reads a client frame, practice times checked against the server's clock.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    parse_at(text, Utc::now().naive_utc())
}

/// Reads a client frame, practice times checked against `now`.
pub fn parse_at(text: &str, now: NaiveDateTime) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(FrameError::NoType)?;
    let empty = serde_json::Map::new();
    let data = match value.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Err(FrameError::DataNotObject),
    };
    match kind {
        "chord_change" => {
            let chord = data
                .get("chord")
                .and_then(Value::as_str)
                .ok_or(FrameError::NoChord)?;
            if !valid_chord(chord) {
                return Err(FrameError::BadChord(shown(chord)));
            }
            Ok(ClientFrame::ChordChange {
                chord: chord.to_string(),
            })
        }
        "practice_start" => Ok(ClientFrame::PracticeStart {
            timestamp: timestamp(data, now)?,
        }),
        "practice_end" => Ok(ClientFrame::PracticeEnd {
            timestamp: timestamp(data, now)?,
        }),
        "ping" => Ok(ClientFrame::Ping {
            timestamp: data.get("timestamp").cloned().unwrap_or(Value::Null),
        }),
        other => Err(FrameError::UnknownType(shown(other))),
    }
}

/// Chord names: a root `A`–`G`, an optional `#`/`b`, then qualities and extensions (`m`, `maj`,
/// `min`, `dim`, `aug`, `sus`, `add`, `alt`, `M`, `+`, `o`, numbers with an optional `#`/`b`),
/// then an optional slash bass (`/F#`); at most [`MAX_CHORD_LEN`] characters.
pub fn valid_chord(chord: &str) -> bool {
    if chord.is_empty() || chord.len() > MAX_CHORD_LEN || !chord.is_ascii() {
        return false;
    }
    let (body, bass) = match chord.split_once('/') {
        Some((body, bass)) => (body, Some(bass)),
        None => (chord, None),
    };
    let root_len = |s: &str| -> Option<usize> {
        let b = s.as_bytes();
        if !matches!(b.first(), Some(b'A'..=b'G')) {
            return None;
        }
        Some(if matches!(b.get(1), Some(b'#' | b'b')) {
            2
        } else {
            1
        })
    };
    if let Some(bass) = bass {
        if root_len(bass) != Some(bass.len()) {
            return false;
        }
    }
    let Some(n) = root_len(body) else {
        return false;
    };
    let mut rest = &body[n..];
    const WORDS: [&str; 11] = [
        "maj", "min", "dim", "aug", "sus", "add", "alt", "m", "M", "+", "o",
    ];
    while !rest.is_empty() {
        if let Some(word) = WORDS.iter().find(|w| rest.starts_with(**w)) {
            rest = &rest[word.len()..];
            continue;
        }
        let after_sign = rest.strip_prefix(['#', 'b']).unwrap_or(rest);
        let digits = after_sign.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &after_sign[digits..];
    }
    true
}

/// Any server frame: `{"type": …, "data": …}`.
#[derive(Debug, Serialize)]
pub struct Frame<T: Serialize> {
    /// The frame type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its payload.
    pub data: T,
}

/// `chord_change` as the other members receive it.
#[derive(Debug, Serialize)]
pub struct ChordOut<'a> {
    /// The chord.
    pub chord: &'a str,
    /// Who played it.
    pub user_id: i64,
    /// Server time, RFC 3339 with milliseconds (the PC can measure delay).
    pub timestamp: String,
}

/// `practice_update`.
#[derive(Debug, Serialize)]
pub struct PracticeOut {
    /// `started` or `ended`.
    pub status: &'static str,
    /// The stored start or end time.
    pub timestamp: String,
}

/// `connection_update`.
#[derive(Debug, Serialize)]
pub struct ConnectionOut {
    /// `connected` or `disconnected`.
    pub status: &'static str,
    /// Whose connection.
    pub user_id: i64,
}

/// `session_state`, to a newcomer.
#[derive(Debug, Serialize)]
pub struct StateOut {
    /// The chord last played.
    pub chord: Option<String>,
    /// Whether a practice run is in progress.
    pub practicing: bool,
    /// Since when, if so.
    pub started_at: Option<String>,
    /// Connections in the session, the newcomer included.
    pub connections: usize,
}

/// A frame serialized to text.
pub fn text<T: Serialize>(kind: &'static str, data: T) -> String {
    serde_json::to_string(&Frame { kind, data }).expect("frames serialize")
}

/// `{"type":"error","data":{"message":…}}`.
pub fn error(message: &str) -> String {
    text("error", serde_json::json!({ "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords() {
        for ok in [
            "C", "Am7", "F#m7b5", "Bbmaj7", "G/B", "Dsus4", "E7#9", "Cadd9", "Abm/Eb", "C+",
            "Bdim7", "Em9", "A7alt", "F#/C#",
        ] {
            assert!(valid_chord(ok), "{ok} should be valid");
        }
        for bad in [
            "H",
            "c",
            "Am7/",
            "X7",
            "",
            "Cmaj7add9sus4b13#",
            "Am7b5/Gb#",
            "C/H",
            "Am 7",
            "Cq",
            "Ａ",
        ] {
            assert!(!valid_chord(bad), "{bad} should be invalid");
        }
        assert!(!valid_chord(&"C".repeat(17)));
    }

    #[test]
    fn frames() {
        assert_eq!(
            parse(r#"{"type":"chord_change","data":{"chord":"Am7"}}"#),
            Ok(ClientFrame::ChordChange {
                chord: "Am7".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"practice_start"}"#),
            Ok(ClientFrame::PracticeStart { timestamp: None })
        );
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T09:00:00+09:00")
            .unwrap()
            .naive_utc();
        assert_eq!(
            parse_at(
                r#"{"type":"practice_end","data":{"timestamp":"2024-01-01T09:00:00+09:00"}}"#,
                t
            ),
            Ok(ClientFrame::PracticeEnd { timestamp: Some(t) })
        );
        assert_eq!(
            parse(r#"{"type":"ping","data":{"timestamp":123}}"#),
            Ok(ClientFrame::Ping {
                timestamp: 123.into()
            })
        );
        assert_eq!(parse("x"), Err(FrameError::NotJson));
        assert_eq!(parse(r#"{"data":{}}"#), Err(FrameError::NoType));
        assert_eq!(
            parse(r#"{"type":"chord_change","data":[]}"#),
            Err(FrameError::DataNotObject)
        );
        assert_eq!(
            parse(r#"{"type":"dance"}"#),
            Err(FrameError::UnknownType("dance".into()))
        );
        assert_eq!(
            parse(r#"{"type":"chord_change","data":{}}"#),
            Err(FrameError::NoChord)
        );
        assert_eq!(
            parse(r#"{"type":"chord_change","data":{"chord":"H7"}}"#),
            Err(FrameError::BadChord("H7".into()))
        );
        assert_eq!(
            parse(r#"{"type":"practice_start","data":{"timestamp":"yesterday"}}"#),
            Err(FrameError::BadTimestamp)
        );
        assert_eq!(
            parse(r#"{"type":"practice_start","data":{"timestamp":5}}"#),
            Err(FrameError::BadTimestamp)
        );
    }

    #[test]
    fn practice_times_stay_within_a_day_of_the_server_clock() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .unwrap()
            .naive_utc();
        let frame = |t: &str| {
            parse_at(
                &format!(r#"{{"type":"practice_start","data":{{"timestamp":"{t}"}}}}"#),
                now,
            )
        };
        for ok in [
            "2026-05-31T12:00:00Z",
            "2026-06-02T12:00:00Z",
            "2026-06-01T23:00:00+09:00",
        ] {
            assert!(frame(ok).is_ok(), "{ok}");
        }
        for far in [
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00-02:00",
            "2026-05-31T11:59:59Z",
            "2026-06-02T12:00:01Z",
        ] {
            assert_eq!(frame(far), Err(FrameError::TimestampOutOfRange), "{far}");
        }
    }
}
