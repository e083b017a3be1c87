//! One frame through the decoder, for each link type.
//!
//! The first byte picks the link type (the supported ones and one that is
//! not), the rest is the frame. Oracles: the payload lies inside the
//! frame; the shard hint, when it gives one, is the decoded flow's shard
//! hash; an unsupported link type is an error; a UDP tunnel's own
//! datagram is UDP, inside the frame; the frame read as an IP packet by
//! the hand-read IPv4 path reads as etherparse reads it.

use capture::decode::{decode, frame_carrier, shard_hint, syn_hint, tcp_flags, LinkType};
use capture::internals::flow::FlowKey;

const LINKS: [LinkType; 13] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::CiscoHdlc,
    LinkType::Fddi,
    LinkType::Ppp,
    LinkType::Ieee80211,
    LinkType::Radiotap,
    LinkType::Nflog,
    LinkType::Unsupported(147),
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((pick, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS
        .get(usize::from(*pick) % LINKS.len())
        .copied()
        .unwrap_or(LinkType::Ethernet);
    assert!(
        capture::internals::decode::plain_ipv4_agrees(frame),
        "the hand-read IPv4 header disagrees with etherparse"
    );
    let hint = shard_hint(link, frame, &capture::decode::Tunnels::default());
    let syn = syn_hint(link, frame);
    match decode(link, frame) {
        Ok(p) => {
            assert!(link.is_supported(), "decoded an unsupported link type");
            let start = p.payload.as_ptr() as usize;
            let frame_start = frame.as_ptr() as usize;
            assert!(
                start >= frame_start && start + p.payload.len() <= frame_start + frame.len(),
                "payload outside the frame"
            );
            let (key, _) = FlowKey::of(p.src, p.sport, p.dst, p.dport, p.transport);
            if let Some(h) = hint {
                assert_eq!(h, key.shard_hash(), "shard hint disagrees with the decode");
            }
            if let Some(tcp) = p.tcp {
                if syn {
                    assert!(
                        tcp.flags & tcp_flags::SYN != 0,
                        "SYN hint on a segment without SYN"
                    );
                }
            }
        }
        Err(e) => assert!(!e.name().is_empty()),
    }
    // Each UDP tunnel's own datagram: UDP, its payload inside the frame;
    // no more of them than tunnels are followed.
    let tunnels = capture::decode::Tunnels::default();
    for nth in 0..=u8::MAX {
        let Ok((p, _)) = frame_carrier(link, frame, &tunnels, nth) else {
            break;
        };
        assert!(nth <= tunnels.max_depth, "a UDP tunnel past the depth");
        assert_eq!(
            p.transport,
            capture::record::Transport::Udp,
            "a tunnel over UDP"
        );
        let start = p.payload.as_ptr() as usize;
        let frame_start = frame.as_ptr() as usize;
        assert!(
            start >= frame_start && start + p.payload.len() <= frame_start + frame.len(),
            "tunnel payload outside the frame"
        );
    }
}
