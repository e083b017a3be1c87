//! The application-protocol parsers a run uses by default, in probing
//! order. Adding a protocol: write its parser (a [`super::parser::ParserSpec`]
//! and a [`super::parser::StreamParser`]) in a file of its own and list its
//! spec here.

use super::parser::ParserSpec;
use super::{dns, dtls, h2, http, quic, tls};

/// Built-in parsers: HTTP/2 (its preface, `PRI * HTTP/2.0`, would pass
/// for an HTTP/1.x request line, so it goes first), HTTP/1.x, TLS, QUIC,
/// DTLS, then DNS (whose probe reads a whole message, so it goes last).
pub const BUILTIN: &[ParserSpec] = &[
    h2::SPEC,
    http::SPEC,
    tls::SPEC,
    quic::SPEC,
    dtls::SPEC,
    dns::SPEC,
];
