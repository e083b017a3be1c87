//! The seam every application-protocol parser plugs into.
//!
//! A parser is described by a [`ParserSpec`]: its protocol name, the
//! transports it reads, a probe on a direction's first bytes and the
//! constructor of its per-flow state, a [`StreamParser`]. The specs a run
//! uses are a list in [`crate::FlowConfig::parsers`] (by default
//! [`super::registry::BUILTIN`]); the first spec whose probe takes a
//! stream's first bytes reads it. TCP parsers get reassembled bytes and
//! gaps, UDP parsers one call per datagram.

use super::AppLimits;
use crate::record::FlowRecord;
use crate::stats::Stats;

/// What a probe makes of a direction's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Not this protocol.
    No,
    /// A prefix of this protocol's start, too short to be sure: the stream
    /// waits for a few more bytes (up to 6 are held), and is taken as this
    /// protocol if it ends or grows past them still matching.
    NeedMore,
    /// This protocol.
    Yes,
}

/// What a parser says after taking bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still reading.
    Continue,
    /// The stream left this protocol (CONNECT, an upgrade): the chunk's
    /// bytes from this offset on start another one, decided afresh.
    Handover(usize),
}

/// Which transports a parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transports {
    /// Reassembled TCP streams.
    Tcp,
    /// UDP datagrams.
    Udp,
    /// Both.
    Both,
}

impl Transports {
    /// Whether a flow of this transport (UDP when `udp`) is read.
    pub fn reads(self, udp: bool) -> bool {
        match self {
            Transports::Tcp => !udp,
            Transports::Udp => udp,
            Transports::Both => true,
        }
    }
}

/// One registered parser.
#[derive(Clone, Copy)]
pub struct ParserSpec {
    /// Protocol name, as records give it in `network.protocol`.
    pub name: &'static str,
    /// Transports it reads.
    pub transports: Transports,
    /// Probe on a direction's first bytes (`to_server` says which): the
    /// start of its first chunk, up to 2 KiB.
    pub probe: fn(to_server: bool, first: &[u8]) -> Probe,
    /// Probe on later chunks of a stream no parser took, within its first
    /// 65,535 bytes each way (a STARTTLS upgrade): `true` hands the stream over.
    pub late_probe: Option<fn(to_server: bool, chunk: &[u8]) -> bool>,
    /// Per-flow state, once the probe took a stream.
    pub new: fn(&AppLimits) -> Box<dyn StreamParser>,
}

impl std::fmt::Debug for ParserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParserSpec")
            .field("name", &self.name)
            .field("transports", &self.transports)
            .finish_non_exhaustive()
    }
}

/// A parser's state for one flow.
pub trait StreamParser: std::any::Any + std::fmt::Debug + Send {
    /// The protocol name of its spec.
    fn name(&self) -> &'static str;

    /// Takes contiguous bytes of one direction (a whole datagram on UDP).
    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict;

    /// `len` bytes of one direction are missing from the capture (TCP).
    fn gap(&mut self, to_server: bool, len: u64);

    /// End of the flow: whatever is still held is recorded.
    fn finish(&mut self) {}

    /// Called after each chunk while the flow's shard tracks many flows
    /// ([`super::AppLimits::compact`]): a smaller form of the parser to
    /// hold instead until the next bytes, if it has one now (HTTP/1.x
    /// packs a connection between messages into one block). The flow
    /// swaps it in ([`compact`]); the smaller form gives the whole parser
    /// back by [`StreamParser::expand`].
    fn compact(&mut self) -> Option<Box<dyn StreamParser>> {
        None
    }

    /// For a form [`StreamParser::compact`] gave: the whole parser, to
    /// take the next bytes or gap ([`expand`]). Such a form still answers
    /// `finish`, `names_flow` and `record` itself.
    fn expand(&self) -> Option<Box<dyn StreamParser>> {
        None
    }

    /// After a handover, the stream starts again with `first`: whether
    /// this parser reads it again (HTTP inside a CONNECT tunnel).
    fn reclaim(&mut self, _to_server: bool, _first: &[u8]) -> bool {
        false
    }

    /// Whether the flow is named after this protocol; `active` when this
    /// parser reads the stream now. A tunnel's opener that recorded
    /// nothing leaves the name to the protocol inside.
    fn names_flow(&self, _active: bool) -> bool {
        true
    }

    /// Moves what it learnt into the flow's record, and its counters into
    /// the run's.
    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats);
}

/// Swaps in the smaller form `p` offers of itself, if it offers one.
pub fn compact(p: &mut Box<dyn StreamParser>) {
    if let Some(small) = p.compact() {
        *p = small;
    }
}

/// Swaps a compacted parser for its whole form, before it reads again.
pub fn expand(p: &mut Box<dyn StreamParser>) {
    if let Some(whole) = p.expand() {
        *p = whole;
    }
}
