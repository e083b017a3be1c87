//! Why a frame could not be decoded into a flow packet.

/// Every reason a frame is not turned into a flow packet. Cheap to copy and
/// to count: [`DecodeError::index`] addresses a fixed counter array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The frame is shorter than its link-layer header.
    LinkTruncated,
    /// The link layer carries something other than IPv4/IPv6 (ARP, LLDP...).
    NotIp,
    /// The link type of the capture is not one procflow decodes.
    UnsupportedLink,
    /// The frame ends inside the IP header.
    IpTruncated,
    /// An IP header that cannot be right (bad version, IHL < 5, length below header).
    IpMalformed,
    /// An IPv6 extension header could not be walked.
    Ipv6ExtensionHeader,
    /// A fragment of an IPv4 or IPv6 packet (counted, not reassembled).
    IpFragment,
    /// The frame ends inside the TCP header.
    TcpTruncated,
    /// A TCP data offset below 5 words.
    TcpBadOffset,
    /// The frame ends inside the UDP header.
    UdpTruncated,
    /// IP protocols tracked as no flow (IGMP, OSPF, ESP, SCTP...), and
    /// tunnels left unread at tunnel depth 0: no error (counted apart).
    OtherTransport,
    /// ARP: no error, only not a flow (counted apart).
    Arp,
    /// The frame ends inside the ICMP or ICMPv6 header.
    IcmpTruncated,
    /// A tunnel header (GRE, ERSPAN) that cannot be right or ends early.
    TunnelMalformed,
    /// A tunnel carrying a protocol that is not read.
    TunnelUnsupported,
    /// Tunnels nested deeper than the configured depth.
    TunnelTooDeep,
    /// Link-layer control (spanning tree, IS-IS, LLDP, CDP, LACP, PPPoE
    /// discovery, PPP's control protocols, GRE keepalives and NHRP, 802.11
    /// management and control): no error, only not a flow (counted apart).
    LinkControl,
}

/// Every variant, in counter order.
pub const DECODE_ERROR_KINDS: [DecodeError; 17] = [
    DecodeError::LinkTruncated,
    DecodeError::NotIp,
    DecodeError::UnsupportedLink,
    DecodeError::IpTruncated,
    DecodeError::IpMalformed,
    DecodeError::Ipv6ExtensionHeader,
    DecodeError::IpFragment,
    DecodeError::TcpTruncated,
    DecodeError::TcpBadOffset,
    DecodeError::UdpTruncated,
    DecodeError::OtherTransport,
    DecodeError::Arp,
    DecodeError::IcmpTruncated,
    DecodeError::TunnelMalformed,
    DecodeError::TunnelUnsupported,
    DecodeError::TunnelTooDeep,
    DecodeError::LinkControl,
];

impl DecodeError {
    /// Stable snake_case name used in statistics.
    pub fn name(self) -> &'static str {
        match self {
            DecodeError::LinkTruncated => "link_truncated",
            DecodeError::NotIp => "not_ip",
            DecodeError::UnsupportedLink => "unsupported_link",
            DecodeError::IpTruncated => "ip_truncated",
            DecodeError::IpMalformed => "ip_malformed",
            DecodeError::Ipv6ExtensionHeader => "ipv6_extension_header",
            DecodeError::IpFragment => "ip_fragment",
            DecodeError::TcpTruncated => "tcp_truncated",
            DecodeError::TcpBadOffset => "tcp_bad_offset",
            DecodeError::UdpTruncated => "udp_truncated",
            DecodeError::OtherTransport => "other_transport",
            DecodeError::Arp => "arp",
            DecodeError::IcmpTruncated => "icmp_truncated",
            DecodeError::TunnelMalformed => "tunnel_malformed",
            DecodeError::TunnelUnsupported => "tunnel_unsupported",
            DecodeError::TunnelTooDeep => "tunnel_too_deep",
            DecodeError::LinkControl => "link_control",
        }
    }

    /// False for frames that are sound but carry no flow (ARP, link
    /// control, IP protocols without flows).
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            DecodeError::Arp | DecodeError::LinkControl | DecodeError::OtherTransport
        )
    }

    /// Position in [`DECODE_ERROR_KINDS`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_ip(e: etherparse::err::ip::LaxHeaderSliceError) -> Self {
        match e {
            etherparse::err::ip::LaxHeaderSliceError::Len(_) => DecodeError::IpTruncated,
            etherparse::err::ip::LaxHeaderSliceError::Content(_) => DecodeError::IpMalformed,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for DecodeError {}
