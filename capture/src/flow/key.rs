//! Flow keys: a small `Copy` canonical 5-tuple with a symmetric hash.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address, kept as raw bytes so keys are `Copy` and hash cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Addr {
    /// IPv4 address bytes.
    V4([u8; 4]),
    /// IPv6 address bytes.
    V6([u8; 16]),
}

impl Addr {
    /// As a standard library address.
    pub fn ip(self) -> IpAddr {
        match self {
            Addr::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
            Addr::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Addr::V4(a.octets()),
            IpAddr::V6(a) => Addr::V6(a.octets()),
        }
    }
}

pub use model::flow::Transport;

/// Canonical flow key: the lower (address, port) endpoint first, so both
/// directions of a flow map to the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// Lower endpoint address.
    pub lo: Addr,
    /// Higher endpoint address.
    pub hi: Addr,
    /// Port of `lo`.
    pub lo_port: u16,
    /// Port of `hi`.
    pub hi_port: u16,
    /// Transport protocol.
    pub transport: Transport,
}

impl FlowKey {
    /// Builds the key of a packet; the flag is true when the packet travels
    /// from `lo` to `hi`.
    pub fn of(src: Addr, sport: u16, dst: Addr, dport: u16, transport: Transport) -> (Self, bool) {
        if (src, sport) <= (dst, dport) {
            let key = FlowKey {
                lo: src,
                hi: dst,
                lo_port: sport,
                hi_port: dport,
                transport,
            };
            (key, true)
        } else {
            let key = FlowKey {
                lo: dst,
                hi: src,
                lo_port: dport,
                hi_port: sport,
                transport,
            };
            (key, false)
        }
    }

    /// A hash that is the same for both directions and for every run, used to
    /// pick the shard (worker) that owns the flow. Table lookups use their own
    /// seeded hasher, so a crafted flood cannot collide inside one table.
    pub fn shard_hash(&self) -> u64 {
        symmetric_hash(self.lo, self.lo_port, self.hi, self.hi_port, self.transport)
    }

    /// The shard (or worker), of `shards`, that owns this flow: the one
    /// definition the engines route by, place by and give records back by.
    pub fn shard(&self, shards: usize) -> usize {
        (self.shard_hash() % shards.max(1) as u64) as usize
    }
}

/// The shard hash from a packet's endpoints in either order: each endpoint
/// is hashed on its own and the two combined by addition, which does not
/// care which comes first, so the reader need not order them.
pub fn symmetric_hash(a: Addr, a_port: u16, b: Addr, b_port: u16, t: Transport) -> u64 {
    let end = |addr: Addr, port: u16| {
        mix(addr_word(addr) ^ (u64::from(port) << 48) ^ 0x9e37_79b9_7f4a_7c15)
    };
    mix(end(a, a_port).wrapping_add(end(b, b_port)) ^ u64::from(t.number()))
}

// Hashing for the tables: the key's words fed straight to the hasher,
// rather than field by field with enum discriminants and length prefixes.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match (self.lo, self.hi) {
            (Addr::V4(a), Addr::V4(b)) => {
                h.write_u64(
                    u64::from(u32::from_be_bytes(a)) << 32 | u64::from(u32::from_be_bytes(b)),
                );
            }
            (lo, hi) => {
                h.write_u128(addr_u128(lo));
                h.write_u128(addr_u128(hi));
            }
        }
        h.write_u64(
            u64::from(self.lo_port) << 32
                | u64::from(self.hi_port) << 16
                | u64::from(self.transport.number()),
        );
    }
}

fn addr_u128(a: Addr) -> u128 {
    match a {
        // Mapped into IPv6 space so a v4 and a v6 key never hash alike by form.
        Addr::V4(b) => 0xffff_0000_0000 | u128::from(u32::from_be_bytes(b)),
        Addr::V6(b) => u128::from_be_bytes(b),
    }
}

fn addr_word(a: Addr) -> u64 {
    match a {
        Addr::V4(b) => u64::from(u32::from_be_bytes(b)),
        Addr::V6(b) => {
            let x = u128::from_be_bytes(b);
            (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
        }
    }
}

/// The 64-bit finaliser of splitmix64: cheap and well spread.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_key_and_hash() {
        let a = Addr::V4([10, 0, 0, 1]);
        let b = Addr::V4([203, 0, 113, 5]);
        let (k1, fwd1) = FlowKey::of(a, 40000, b, 80, Transport::Tcp);
        let (k2, fwd2) = FlowKey::of(b, 80, a, 40000, Transport::Tcp);
        assert_eq!(k1, k2);
        assert_ne!(fwd1, fwd2);
        assert_eq!(k1.shard_hash(), k2.shard_hash());
        let (k3, _) = FlowKey::of(a, 40001, b, 80, Transport::Tcp);
        assert_ne!(k1.shard_hash(), k3.shard_hash());
        let (k4, _) = FlowKey::of(a, 40000, b, 80, Transport::Udp);
        assert_ne!(k1, k4);
    }
}
