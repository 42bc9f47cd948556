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

/// The spellings of "no chord" accepted as a chord name.
pub const NO_CHORD: [&str; 3] = ["N.C.", "N.C", "NC"];

/// The words a chord's quality and extensions are spelled with, longest first where one
/// begins another (`maj` before `m`, `min` before `m`).
const WORDS: [&str; 16] = [
    "maj", "min", "dim", "aug", "sus", "add", "alt", "omit", "no", "m", "M", "o", "°", "ø", "Δ",
    "△",
];

/// Signs that may precede an extension's number (`b5`, `#11`, `-5`, `+5`, `♭9`).
const ALTERATIONS: [char; 6] = ['#', 'b', '+', '-', '♯', '♭'];

/// Whether `chord` is a chord name as players write them (the table in `docs/guitar.md`):
/// a root `A`–`G` with an optional `#`, `b`, `♯` or `♭`; then any run of qualities (`m`,
/// `M`, `maj`, `min`, `-`, `dim`, `o`, `°`, `ø`, `aug`, `+`, `sus`, `add`, `alt`, `omit`,
/// `no`, `Δ`, `△`) and extensions (a number of one or two digits, optionally altered by `#`,
/// `b`, `+`, `-`, `♯`, `♭`; `6/9`), some of them in parentheses (not nested, not empty),
/// separated by commas or not (`C7(b9,#11)`, `C(add9)`); then an optional slash bass (`/F#`). `N.C.`
/// (also `N.C`, `NC`) is "no chord". At most [`MAX_CHORD_LEN`] characters; nothing else —
/// no spaces, no control characters, no lower-case root.
pub fn valid_chord(chord: &str) -> bool {
    if chord.is_empty() || chord.chars().count() > MAX_CHORD_LEN {
        return false;
    }
    if NO_CHORD.contains(&chord) {
        return true;
    }
    let Some(mut rest) = note(chord) else {
        return false;
    };
    // Inside `(…)`, and whether its current item (since `(` or `,`) is still empty.
    let (mut in_group, mut item_empty) = (false, true);
    // Whether the last thing read was the number 6, which `/9` may follow (`C6/9`).
    let mut after_six = false;
    while !rest.is_empty() {
        let six = std::mem::take(&mut after_six);
        if let Some(after) = rest.strip_prefix('(') {
            if in_group {
                return false;
            }
            (in_group, item_empty, rest) = (true, true, after);
        } else if let Some(after) = rest.strip_prefix(')') {
            if !in_group || item_empty {
                return false;
            }
            (in_group, rest) = (false, after);
        } else if let Some(after) = rest.strip_prefix(',') {
            if !in_group || item_empty {
                return false;
            }
            (item_empty, rest) = (true, after);
        } else if let Some(after) = rest.strip_prefix('/') {
            let nine = after.strip_prefix('9');
            match nine {
                Some(tail) if six && !tail.starts_with(|c: char| c.is_ascii_digit()) => {
                    rest = tail;
                }
                // A bass note ends the name.
                _ => return !in_group && note(after) == Some(""),
            }
        } else if let Some((number, after)) = extension(rest) {
            after_six = number == "6";
            (item_empty, rest) = (false, after);
        } else if let Some(word) = WORDS.iter().find(|w| rest.starts_with(**w)) {
            (item_empty, rest) = (false, &rest[word.len()..]);
        } else if let Some(after) = rest.strip_prefix(['-', '+']) {
            // `-` (minor) and `+` (augmented) without a number after them.
            (item_empty, rest) = (false, after);
        } else {
            return false;
        }
    }
    !in_group
}

/// Reads a note (`A`–`G` and an optional accidental) off the front of `s`; the rest.
fn note(s: &str) -> Option<&str> {
    let rest = s.strip_prefix(|c: char| ('A'..='G').contains(&c))?;
    Some(rest.strip_prefix(['#', 'b', '♯', '♭']).unwrap_or(rest))
}

/// Reads an extension (an optional alteration, then one or two digits) off the front of `s`:
/// its digits and the rest.
fn extension(s: &str) -> Option<(&str, &str)> {
    let unsigned = s.strip_prefix(ALTERATIONS).unwrap_or(s);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&digits).then(|| unsigned.split_at(digits))
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

/// `connection_update`: to every member, the newcomer included, when a device connects; to the
/// others when one leaves.
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
            // What the hub took before.
            "C",
            "Am7",
            "F#m7b5",
            "Bbmaj7",
            "G/B",
            "Dsus4",
            "E7#9",
            "Cadd9",
            "Abm/Eb",
            "C+",
            "Bdim7",
            "Em9",
            "A7alt",
            "F#/C#",
            // seeds/001's players: six-nine, half-diminished as m7-5, parentheses, no chord.
            "C6/9",
            "C69",
            "Am6/9",
            "C6/9/E",
            "Bm7-5",
            "Bm7b5",
            "Bm7(b5)",
            "Bm7(-5)",
            "C(add9)",
            "Cm(add9)",
            "N.C.",
            "N.C",
            "NC",
            // Slash chords and the usual qualities.
            "D/F#",
            "Am7/G",
            "Eb/Bb",
            "C/E",
            "Csus2",
            "C7sus4",
            "C9sus4",
            "Cdim",
            "Co7",
            "C°7",
            "Cø7",
            "Cø",
            "Caug",
            "Caug7",
            "C+5",
            "C7+5",
            "C7#5",
            "Cmaj7",
            "CM7",
            "CΔ7",
            "C△7",
            "Cmaj9",
            "CmM7",
            "Cm(maj7)",
            "C-7",
            "C-",
            "Cm",
            "C7",
            "C9",
            "C11",
            "C13",
            "Cm11",
            "C7b9",
            "C7(b9)",
            "C7(b9,13)",
            "C7(#9,b13)",
            "C7(b9#11)",
            "C7(b9,#11,13)/Bb",
            "C5",
            "C(omit3)",
            "C(no3)",
            "Cadd2",
            "Bbm7(♭5)",
            "B♭",
            "F♯m7",
            "C7(♭9)",
        ] {
            assert!(valid_chord(ok), "{ok} should be valid");
        }
        for bad in [
            // Refused before, refused still.
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
            // Garbage: spaces, control characters, broken parentheses, stray signs.
            " C",
            "C ",
            "C\n",
            "C\u{0}",
            "C\t7",
            "\u{1b}[31mC",
            "C()",
            "C(",
            "C(9",
            "C9)",
            "C((9))",
            "C(9)(11)x",
            "C(,9)",
            "C(9,)",
            "C(9,,11)",
            "C/9",
            "C6/",
            "C6/9/",
            "C6/91",
            "C/E/G",
            "C/(E)",
            "C(9/E)",
            "C7#",
            "C7b",
            "C777",
            "N.C.7",
            "n.c.",
            "N.C./E",
            "Cmb",
            "C,9",
            "C#b",
            "Cbb",
            "C♭♭",
            "Am7/g",
        ] {
            assert!(!valid_chord(bad), "{bad:?} should be invalid");
        }
        // At most 16 characters, counted as characters (♭ is three bytes).
        assert!(!valid_chord(&"C".repeat(17)));
        assert!(valid_chord("C7(b9,#11,13)/Bb"));
        assert!(!valid_chord("C7(b9,#11,13)/Bb7"));
        assert!(!valid_chord("Bb♭m7"), "one accidental per note");
        assert!(valid_chord("B♭m7(♭5,♭9,11)"));
        assert!(!valid_chord("B♭m7(♭5,♭9,11)/A♭"));
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
