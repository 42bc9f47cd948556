//! Property tests over what the hub reads from the outside: WebSocket frames, every dialect's
//! client frames, and the envelopes other nodes publish. Arbitrary input never panics, and
//! what is written reads back the same. Bounded: 256 cases each (set `PROPTEST_CASES` to
//! search longer).

use bytes::Bytes;
use bytestring::ByteString;
use proptest::prelude::*;
use realtime_hub::dialects::{broadcast, chat, guitar, messages};
use realtime_hub::hub::frame::{masked as client_frame, Decoder, Incoming};
use realtime_hub::hub::Topic;
use realtime_hub::relay::envelope;
use realtime_hub::relay::{Envelope, NodeId, RelayTarget};

/// Feeds `bytes` in chunks at `cuts` and collects items until the first violation.
fn decode_in_chunks(bytes: &[u8], cuts: &[usize], max: usize) -> (Vec<Incoming>, bool) {
    let mut d = Decoder::new(max);
    let mut items = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(bytes.len());
    for end in bounds {
        if end < at {
            continue;
        }
        d.feed(&bytes[at..end]);
        at = end;
        loop {
            match d.decode() {
                Ok(Some((item, _))) => items.push(item),
                Ok(None) => break,
                Err(_) => return (items, true),
            }
        }
    }
    (items, false)
}

proptest! {
    #[test]
    fn the_decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_chunks(&bytes, &cuts, 1024);
    }

    #[test]
    fn messages_split_into_fragments_read_back_whole(
        text in ".{0,300}",
        pieces in 1usize..6,
        mask in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let bytes = text.as_bytes();
        let size = bytes.len().div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> = if bytes.is_empty() { vec![&[]] } else { bytes.chunks(size).collect() };
        let mut wire = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i == 0 { 0x1 } else { 0x0 };
            let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
            wire.extend(client_frame(fin | opcode, chunk, mask));
            // A ping between fragments is answered in its place.
            if i + 1 < chunks.len() {
                wire.extend(client_frame(0x89, b"p", mask));
            }
        }
        let (items, failed) = decode_in_chunks(&wire, &cuts, 64 * 1024);
        prop_assert!(!failed);
        let pings = chunks.len() - 1;
        prop_assert_eq!(items.len(), pings + 1);
        prop_assert_eq!(items.last().unwrap(), &Incoming::Text(ByteString::from(text.clone())));
    }

    #[test]
    fn binary_and_control_frames_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 0..2000),
        ping in proptest::collection::vec(any::<u8>(), 0..126),
        mask in any::<[u8; 4]>(),
    ) {
        let mut wire = client_frame(0x82, &payload, mask);
        wire.extend(client_frame(0x89, &ping, mask));
        let (items, failed) = decode_in_chunks(&wire, &[], 4096);
        prop_assert!(!failed);
        prop_assert_eq!(items, vec![
            Incoming::Binary(Bytes::from(payload)),
            Incoming::Ping(Bytes::from(ping)),
        ]);
    }

    #[test]
    fn dialect_parsers_never_panic(text in "\\PC{0,200}", json_ish in "[{}\\[\\]\":,a-z0-9 ]{0,120}") {
        for input in [&text, &json_ish] {
            let _ = chat::protocol::parse(input);
            let _ = messages::protocol::parse(input);
            let _ = guitar::protocol::parse(input);
            let _ = broadcast::protocol::parse_client(input);
            let _ = broadcast::protocol::parse_ingress(input);
        }
    }

    #[test]
    fn envelopes_never_panic_and_round_trip(
        junk in proptest::collection::vec(any::<u8>(), 0..512),
        origin in any::<u64>(),
        ns in "[a-z]{1,8}",
        key in "[ -~]{0,40}",
        body in "\\PC{0,200}",
        users in proptest::option::of(proptest::collection::vec("[0-9]{1,6}", 0..4)),
        stored in proptest::option::of(any::<i64>()),
        close in proptest::option::of((1000u16..5000, "[ -~]{0,40}")),
        skip in proptest::option::of("\\PC{0,20}"),
    ) {
        let _ = envelope::decode(&junk);
        let env = Envelope {
            origin: NodeId(origin),
            topic: Topic::new(&ns, &key),
            body: ByteString::from(body),
            target: match users {
                None => RelayTarget::All,
                Some(keys) => RelayTarget::Users(keys.into_iter().map(Into::into).collect()),
            },
            key: stored,
            close: close.map(|(c, r)| (c, r.into())),
            skip: skip.map(Into::into),
        };
        prop_assert_eq!(envelope::decode(&envelope::encode(&env)), Ok(env));
    }
}
