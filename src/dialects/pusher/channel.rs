//! Channel names and kinds. The kind follows from the prefix, as in pusher-js and the
//! servers: `private-encrypted-`, `private-`, `presence-`, anything else is public.

/// Longest channel name accepted (Pusher's own limit is 164; soketi and Reverb allow 200).
pub const MAX_NAME_LEN: usize = 200;

/// What a channel's name makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anyone may subscribe.
    Public,
    /// Subscribing needs a signature from the app.
    Private,
    /// Private, with payloads end-to-end encrypted by the clients: the hub passes them on.
    Encrypted,
    /// Private, and the members are listed and announced.
    Presence,
}

impl Kind {
    /// The kind of `name`.
    pub fn of(name: &str) -> Kind {
        if name.starts_with("private-encrypted-") {
            Kind::Encrypted
        } else if name.starts_with("private-") {
            Kind::Private
        } else if name.starts_with("presence-") {
            Kind::Presence
        } else {
            Kind::Public
        }
    }

    /// Whether subscribing needs an `auth` signature.
    pub fn needs_auth(self) -> bool {
        self != Kind::Public
    }

    /// Whether clients may send `client-` events on it (Pusher: private and presence, and
    /// not encrypted ones, whose clients cannot encrypt what they trigger).
    pub fn takes_client_events(self) -> bool {
        matches!(self, Kind::Private | Kind::Presence)
    }
}

/// Pusher's channel-name rule: 1 to [`MAX_NAME_LEN`] of `A-Za-z0-9_-=@,.;`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_prefix_and_names_by_pusher_rule() {
        assert_eq!(Kind::of("orders"), Kind::Public);
        assert_eq!(Kind::of("private-orders.5"), Kind::Private);
        assert_eq!(Kind::of("private-encrypted-x"), Kind::Encrypted);
        assert_eq!(Kind::of("presence-room.1"), Kind::Presence);
        assert_eq!(Kind::of("privateer"), Kind::Public);
        for ok in ["a", "private-App.Models.User.1", "x_-=@,.;9"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "has space", "a/b", "é", &"x".repeat(201)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
