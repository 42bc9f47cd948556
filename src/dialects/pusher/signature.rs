//! Pusher's signatures: HMAC-SHA256 with the app secret, in lowercase hex. Channel auth signs
//! `socket_id:channel[:channel_data]`; the HTTP API signs `METHOD\npath\nsorted query`;
//! webhooks sign their body. Comparisons run in constant time.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `lowercase_hex(HMAC-SHA256(secret, message))`: the webhook signer's, one function for both.
pub use crate::services::webhook::signature as sign;

/// Whether `signature` (hex) is the HMAC of `message`, compared in constant time.
pub fn verify(secret: &str, message: &[u8], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(message);
    mac.verify_slice(&given).is_ok()
}

/// What a subscription's `auth` must be: `key:hmac(socket_id:channel[:channel_data])`.
pub fn channel_auth(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    data: Option<&str>,
) -> String {
    format!(
        "{key}:{}",
        sign(secret, to_sign(socket_id, channel, data).as_bytes())
    )
}

/// Whether a subscription's `auth` is right for this app. The key before `:` must be the
/// app's (soketi compares the whole string; a token made for another app is refused either
/// way, since its secret differs).
pub fn channel_auth_ok(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    data: Option<&str>,
    auth: &str,
) -> bool {
    let Some((given_key, signature)) = auth.split_once(':') else {
        return false;
    };
    given_key == key
        && verify(
            secret,
            to_sign(socket_id, channel, data).as_bytes(),
            signature,
        )
}

fn to_sign(socket_id: &str, channel: &str, data: Option<&str>) -> String {
    match data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// Lowercase hex MD5 of an HTTP API body (`body_md5`).
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// The string an HTTP API request signs: `METHOD\npath\nk=v&…` with every query parameter
/// but `auth_signature`, keys lowercased and sorted, values as decoded.
pub fn api_string(method: &str, path: &str, params: &[(String, String)]) -> String {
    let mut params: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    params.sort();
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\n{path}\n{}",
        method.to_ascii_uppercase(),
        query.join("&")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Pusher's auth-signature reference.
    #[test]
    fn private_channel_example_from_the_reference() {
        let auth = channel_auth(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "private-foobar",
            None,
        );
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert!(channel_auth_ok(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "private-foobar",
            None,
            &auth
        ));
        assert!(!channel_auth_ok(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1235",
            "private-foobar",
            None,
            &auth
        ));
        assert!(!channel_auth_ok("k", "s", "1.1", "private-x", None, "k:zz"));
        assert!(!channel_auth_ok(
            "k",
            "s",
            "1.1",
            "private-x",
            None,
            "nocolon"
        ));
    }

    /// The example of Pusher's REST API reference.
    #[test]
    fn api_example_from_the_reference() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        let params: Vec<(String, String)> = [
            ("auth_key", "278d425bdf160c739803"),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
            ("auth_signature", "ignored"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = api_string("POST", "/apps/3/events", &params);
        assert_eq!(
            text,
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&\
             auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
        );
        assert_eq!(
            sign("7ad3773142a6692b25b8", text.as_bytes()),
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }
}
