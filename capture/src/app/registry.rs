//! The application-protocol parsers a run uses by default, in probing
//! order. Adding a protocol: write its parser (a [`super::parser::ParserSpec`]
//! and a [`super::parser::StreamParser`]) in a file of its own and list its
//! spec here.

use super::parser::ParserSpec;
use super::{dns, http, quic, tls};

/// Built-in parsers: HTTP/1.x, TLS, QUIC, then DNS (whose probe reads a
/// whole message, so it goes last).
pub const BUILTIN: &[ParserSpec] = &[http::SPEC, tls::SPEC, quic::SPEC, dns::SPEC];
