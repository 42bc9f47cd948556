//! The Laravel-side hub's frames (seeds/004), byte for byte where the seed shows them. `data`
//! is opaque: it is carried as raw JSON text, never re-serialized, so key order and number
//! formatting reach the clients exactly as the sender wrote them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A user as the seed's frames show one (`sender`, `data.user`): name first, then id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Display name.
    pub name: String,
    /// User id; 0 for the back end ("system").
    pub id: i64,
}

impl Person {
    /// The sender of back-end messages that name none.
    pub fn system() -> Person {
        Person {
            name: "system".into(),
            id: 0,
        }
    }
}

/// Why a frame or back-end payload was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not parseable as JSON.
    #[error("invalid JSON")]
    NotJson,
    /// No object `data`.
    #[error("expected {{\"data\": {{…}}}}")]
    NoData,
    /// `data.target_user_id` present but not an integer.
    #[error("target_user_id must be an integer")]
    BadTarget,
    /// Back end: `channel` missing or not a valid channel name.
    #[error("invalid channel")]
    BadChannel,
    /// Back end: `type` is not `"message"`.
    #[error("type must be \"message\"")]
    BadType,
    /// Back end: `sender` is not `{"id", "name"}`.
    #[error("sender must be {{\"id\": <int>, \"name\": <string>}}")]
    BadSender,
}

/// What a client sends: `{"data": {…}}`.
#[derive(Debug)]
pub struct ClientFrame {
    /// The object to pass on, verbatim.
    pub data: Box<RawValue>,
    /// `data.target_user_id`, when the message is for one user.
    pub target: Option<i64>,
}

/// What the back end publishes: `{"channel","data","type":"message","sender"?}`.
#[derive(Debug)]
pub struct Ingress {
    /// The channel whose members receive it.
    pub channel: String,
    /// The object to pass on, verbatim.
    pub data: Box<RawValue>,
    /// Who it is from; `{"id":0,"name":"system"}` when the payload names nobody.
    pub sender: Person,
    /// `data.target_user_id`, when the message is for one user.
    pub target: Option<i64>,
}

#[derive(Deserialize)]
struct RawFrame {
    data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct RawIngress {
    channel: Option<serde_json::Value>,
    data: Option<Box<RawValue>>,
    #[serde(rename = "type")]
    kind: Option<String>,
    sender: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Targeted {
    target_user_id: Option<serde_json::Value>,
}

/// An object `data` and its optional integer `target_user_id`.
fn object_data(data: Option<Box<RawValue>>) -> Result<(Box<RawValue>, Option<i64>), FrameError> {
    let data = data
        .filter(|d| d.get().trim_start().starts_with('{'))
        .ok_or(FrameError::NoData)?;
    let targeted: Targeted = serde_json::from_str(data.get()).map_err(|_| FrameError::NoData)?;
    let target = match targeted.target_user_id {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or(FrameError::BadTarget)?),
    };
    Ok((data, target))
}

/// Reads a client frame.
pub fn parse_client(text: &str) -> Result<ClientFrame, FrameError> {
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => Err(FrameError::NoData),
            Err(_) => Err(FrameError::NotJson),
        };
    }
    let raw: RawFrame = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let (data, target) = object_data(raw.data)?;
    Ok(ClientFrame { data, target })
}

/// Reads a back-end payload (Redis or HTTP).
pub fn parse_ingress(text: &str) -> Result<Ingress, FrameError> {
    let raw: RawIngress = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            FrameError::NoData
        } else {
            FrameError::NotJson
        }
    })?;
    if raw.kind.as_deref() != Some("message") {
        return Err(FrameError::BadType);
    }
    let channel = raw
        .channel
        .and_then(|c| c.as_str().map(str::to_string))
        .filter(|c| super::valid_channel(c))
        .ok_or(FrameError::BadChannel)?;
    let (data, target) = object_data(raw.data)?;
    let sender = match raw.sender {
        None | Some(serde_json::Value::Null) => Person::system(),
        Some(v) => serde_json::from_value(v).map_err(|_| FrameError::BadSender)?,
    };
    Ok(Ingress {
        channel,
        data,
        sender,
        target,
    })
}

/// `{"type":"message","sender":{…},"data":{…}}` — the one frame every message becomes.
#[derive(Serialize)]
pub struct MessageOut<'a> {
    /// Always `"message"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Who sent it.
    pub sender: &'a Person,
    /// The sender's object, verbatim.
    pub data: &'a RawValue,
}

/// `{"type":"sended","ok":…,"error"?}` — the sender's acknowledgement.
#[derive(Serialize)]
pub struct Sended<'a> {
    /// Always `"sended"` (the seed's spelling).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether the frame was accepted.
    pub ok: bool,
    /// Why not, when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// A user in `connected.users`: id first, then name, as the seed lists them.
#[derive(Debug, Serialize)]
pub struct UserEntry {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
}

/// `{"type":"connected","users":[…]}` — to the newcomer.
#[derive(Serialize)]
pub struct Connected {
    /// Always `"connected"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Everyone on the channel, one entry per user, the newcomer included.
    pub users: Vec<UserEntry>,
}

/// `{"user": {…}}` inside presence frames.
#[derive(Serialize)]
pub struct UserData<'a> {
    /// The user who arrived or left.
    pub user: &'a Person,
}

/// `connectOther` / `disconnectOther`.
#[derive(Serialize)]
pub struct PresenceOut<'a> {
    /// `"connectOther"` or `"disconnectOther"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The user who arrived or left.
    pub sender: &'a Person,
    /// The same user, as the seed nests it.
    pub data: UserData<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames() {
        let f = parse_client(r#"{"data":{"message":"hi","name":"a","target_user_id":2}}"#).unwrap();
        assert_eq!(
            f.data.get(),
            r#"{"message":"hi","name":"a","target_user_id":2}"#
        );
        assert_eq!(f.target, Some(2));
        assert_eq!(parse_client("nope").unwrap_err(), FrameError::NotJson);
        assert_eq!(parse_client("[1]").unwrap_err(), FrameError::NoData);
        assert_eq!(
            parse_client(r#"{"data":5}"#).unwrap_err(),
            FrameError::NoData
        );
        assert_eq!(
            parse_client(r#"{"other":{}}"#).unwrap_err(),
            FrameError::NoData
        );
        assert_eq!(
            parse_client(r#"{"data":{"target_user_id":"x"}}"#).unwrap_err(),
            FrameError::BadTarget
        );
    }

    #[test]
    fn ingress_payloads() {
        let i = parse_ingress(r#"{"channel":"chat:1,2","data":{"b":1,"a":2},"type":"message"}"#)
            .unwrap();
        assert_eq!(
            (i.channel.as_str(), i.data.get(), &i.sender),
            ("chat:1,2", r#"{"b":1,"a":2}"#, &Person::system())
        );
        let i = parse_ingress(
            r#"{"channel":"c","data":{},"type":"message","sender":{"id":5,"name":"e"}}"#,
        )
        .unwrap();
        assert_eq!(
            i.sender,
            Person {
                name: "e".into(),
                id: 5
            }
        );
        let bad = |s| parse_ingress(s).unwrap_err();
        assert_eq!(bad("{"), FrameError::NotJson);
        assert_eq!(bad(r#"{"channel":"c","data":{}}"#), FrameError::BadType);
        assert_eq!(
            bad(r#"{"channel":"bad name","data":{},"type":"message"}"#),
            FrameError::BadChannel
        );
        assert_eq!(
            bad(r#"{"channel":"c","data":[],"type":"message"}"#),
            FrameError::NoData
        );
        assert_eq!(
            bad(r#"{"channel":"c","data":{},"type":"message","sender":"me"}"#),
            FrameError::BadSender
        );
    }
}
