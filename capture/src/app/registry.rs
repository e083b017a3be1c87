//! The application-protocol parsers a run uses by default, in probing
//! order. Adding a protocol: write its parser (a [`super::parser::ParserSpec`]
//! and a [`super::parser::StreamParser`]) in a file of its own and list its
//! spec here.

use super::parser::ParserSpec;
use super::{http, tls};

/// Built-in parsers: HTTP/1.x, then TLS.
pub const BUILTIN: &[ParserSpec] = &[http::SPEC, tls::SPEC];
