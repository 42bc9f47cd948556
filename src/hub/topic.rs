//! Topic names: what a room is about (`chat:lobby`, `user:7`, `bc:chat:1,2` …).
//!
//! A topic is a namespace chosen by a dialect plus a key. It is a struct rather than an enum of
//! every dialect's topics so that the hub never names a dialect: adding one adds a namespace in
//! its own module, not a variant here. The rendered form is what the relay uses between nodes.

use std::fmt;
use std::sync::Arc;

/// A fan-out group's name. Cheap to clone (one shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// `namespace:key`. The namespace must not contain `:`; the key may.
    pub fn new(namespace: &str, key: &str) -> Topic {
        debug_assert!(
            !namespace.contains(':'),
            "namespace {namespace:?} contains ':'"
        );
        Topic(format!("{namespace}:{key}").into())
    }

    /// Rebuilds a topic from its rendered form (as received from another node).
    pub fn parse(rendered: &str) -> Option<Topic> {
        rendered.contains(':').then(|| Topic(rendered.into()))
    }

    /// The dialect's namespace (`chat`, `user`, …), used as a metrics label.
    pub fn namespace(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(ns, _)| ns)
    }

    /// The part after the namespace.
    pub fn key(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, k)| k)
    }

    /// The rendered `namespace:key`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_and_key_round_trip() {
        let t = Topic::new("bc", "chat:1,2");
        assert_eq!((t.namespace(), t.key()), ("bc", "chat:1,2"));
        assert_eq!(Topic::parse(t.as_str()), Some(t));
        assert_eq!(Topic::parse("nocolon"), None);
    }
}
