//! A flow record with its attribution, as written with `--flows`.

use crate::attribute::{Attribution, Side};
use capture::FlowRecord;
use serde::Serialize;

/// A flow and the processes on its ends.
#[derive(Debug, Clone)]
pub struct AttributedFlow {
    /// The flow.
    pub record: FlowRecord,
    /// Who opened and who accepted it.
    pub attribution: Attribution,
}

#[derive(Serialize)]
struct HostOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    os: Option<OsOut<'a>>,
}

#[derive(Serialize)]
struct OsOut<'a> {
    family: &'a str,
}

#[derive(Serialize)]
struct ProcessOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<ParentOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<HashOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_signature: Option<SignerOut<'a>>,
}

#[derive(Serialize)]
struct ParentOut {
    pid: u32,
}

#[derive(Serialize)]
struct HashOut<'a> {
    sha256: &'a str,
}

#[derive(Serialize)]
struct SignerOut<'a> {
    subject_name: &'a str,
}

#[derive(Serialize)]
struct UserOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ServerOut<'a> {
    quality: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<HostOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<ProcessOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserOut<'a>>,
}

#[derive(Serialize)]
struct AttributionOut<'a> {
    quality: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    conflict: bool,
    server: ServerOut<'a>,
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(flatten)]
    record: &'a FlowRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<HostOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<ProcessOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserOut<'a>>,
    attribution: AttributionOut<'a>,
}

fn host_out<'a>(s: &'a Side, ip: std::net::IpAddr) -> HostOut<'a> {
    HostOut {
        name: &s.host_name,
        ip: Some(ip),
        os: s.os.map(|o| OsOut { family: o.name() }),
    }
}

fn process_out(s: &Side) -> ProcessOut<'_> {
    let p = &s.process;
    ProcessOut {
        pid: p.pid,
        executable: p.executable.as_deref(),
        name: p.name(),
        command_line: p.cmdline.as_deref(),
        parent: p.ppid.map(|pid| ParentOut { pid }),
        hash: p.sha256.as_deref().map(|sha256| HashOut { sha256 }),
        code_signature: p
            .signer
            .as_deref()
            .map(|subject_name| SignerOut { subject_name }),
    }
}

fn user_out(s: &Side) -> Option<UserOut<'_>> {
    s.process.user.as_deref().map(|name| UserOut { name })
}

impl AttributedFlow {
    /// The record as one JSON line: the flow's fields, then `host.*`,
    /// `process.*`, `user.name` of the client's process, and `attribution`
    /// with its quality and the server's process.
    pub fn to_json(&self) -> String {
        let a = &self.attribution;
        let c = a.client.as_ref();
        let s = a.server.as_ref();
        let out = Out {
            record: &self.record,
            host: c.map(|c| host_out(c, self.record.source.ip)),
            process: c.map(process_out),
            user: c.and_then(user_out),
            attribution: AttributionOut {
                quality: c.map_or("none", |c| c.quality.name()),
                conflict: a.client_conflict,
                server: ServerOut {
                    quality: s.map_or("none", |s| s.quality.name()),
                    host: s.map(|s| host_out(s, self.record.destination.ip)),
                    process: s.map(process_out),
                    user: s.and_then(user_out),
                },
            },
        };
        // Plain strings and integers: serialising cannot fail.
        serde_json::to_string(&out).unwrap_or_default()
    }
}
