//! A flow record with its attribution, as written with `--flows`.

use crate::attribute::{Attribution, Side};
use capture::json::JsonObject;
use capture::FlowRecord;
use std::net::IpAddr;

/// A flow and the processes on its ends.
#[derive(Debug, Clone)]
pub struct AttributedFlow {
    /// The flow.
    pub record: FlowRecord,
    /// Who opened and who accepted it.
    pub attribution: Attribution,
}

impl AttributedFlow {
    /// The record as one JSON line: the flow's fields, then `host.*`,
    /// `process.*`, `user.name` of the client's process, and `attribution`
    /// with its quality and the server's process.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out);
        // Only whole `str`s and ASCII were written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends what [`AttributedFlow::to_json`] gives to `out`, without
    /// a string of its own (the output path writes millions).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let a = &self.attribution;
        let c = a.client.as_ref();
        let s = a.server.as_ref();
        let mut o = JsonObject::begin(out);
        self.record.write_fields(&mut o);
        if let Some(c) = c {
            side(&mut o, c, self.record.source.ip);
        }
        let mut at = o.object("attribution");
        at.str("quality", c.map_or("none", |c| c.quality.name()));
        if a.client_conflict {
            at.bool("conflict", true);
        }
        let mut server = at.object("server");
        server.str("quality", s.map_or("none", |s| s.quality.name()));
        if let Some(s) = s {
            side(&mut server, s, self.record.destination.ip);
        }
        server.end();
        at.end();
        o.end();
    }
}

/// `host`, `process` and `user` of one end.
fn side(o: &mut JsonObject<'_>, s: &Side, ip: IpAddr) {
    let mut host = o.object("host");
    host.str("name", &s.host_name);
    host.ip("ip", ip);
    if let Some(os) = s.os {
        let mut x = host.object("os");
        x.str("family", os.name());
        x.end();
    }
    host.end();
    let p = &s.process;
    let mut x = o.object("process");
    if let Some(pid) = p.pid {
        x.u64("pid", u64::from(pid));
    }
    x.opt_str("executable", p.executable.as_deref());
    x.opt_str("name", p.name());
    x.opt_str("command_line", p.cmdline.as_deref());
    if p.exe_deleted {
        x.bool("executable_deleted", true);
    }
    if let Some(ns) = p.netns {
        x.u64("netns", u64::from(ns));
    }
    if let Some(id) = p.cgroup_id {
        x.u64("cgroup_id", id);
    }
    if let Some(ppid) = p.ppid {
        let mut y = x.object("parent");
        y.u64("pid", u64::from(ppid));
        y.end();
    }
    if let Some(h) = p.sha256.as_deref() {
        let mut y = x.object("hash");
        y.str("sha256", h);
        y.end();
    }
    if let Some(sig) = p.signer.as_deref() {
        let mut y = x.object("code_signature");
        y.str("subject_name", sig);
        y.end();
    }
    x.end();
    if let Some(user) = p.user.as_deref() {
        let mut y = o.object("user");
        y.str("name", user);
        y.end();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The direct writer against the `Serialize` form it replaced.
    use super::*;
    use crate::attribute::Quality;
    use crate::event::{Os, Process};
    use capture::record::{EndpointFields, EventFields, FlowFields, NetworkFields};
    use serde::Serialize;
    use std::sync::Arc;

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

    fn reference(f: &AttributedFlow) -> String {
        let a = &f.attribution;
        let c = a.client.as_ref();
        let s = a.server.as_ref();
        let out = Out {
            record: &f.record,
            host: c.map(|c| host_out(c, f.record.source.ip)),
            process: c.map(process_out),
            user: c.and_then(user_out),
            attribution: AttributionOut {
                quality: c.map_or("none", |c| c.quality.name()),
                conflict: a.client_conflict,
                server: ServerOut {
                    quality: s.map_or("none", |s| s.quality.name()),
                    host: s.map(|s| host_out(s, f.record.destination.ip)),
                    process: s.map(process_out),
                    user: s.and_then(user_out),
                },
            },
        };
        // Plain strings and integers: serialising cannot fail.
        serde_json::to_string(&out).unwrap_or_default()
    }

    fn record(v6: bool) -> FlowRecord {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        FlowRecord {
            community_id: "1:abc+/=".into(),
            event: EventFields {
                start: 1_700_000_000_000_001,
                end: 1_700_000_009_500_000,
                reason: "fin",
            },
            network: NetworkFields {
                transport: crate::Transport::Tcp,
                protocol: Some(model::flow::AppProtocol::HTTP),
                vlan: (!v6).then_some(model::flow::Vlan { id: 12 }),
            },
            source: EndpointFields {
                ip: if v6 {
                    ip("2001:db8::5")
                } else {
                    ip("10.0.0.5")
                },
                port: 40000,
                packets: 7,
                bytes: 900,
            },
            destination: EndpointFields {
                ip: if v6 {
                    ip("::ffff:192.0.2.1")
                } else {
                    ip("192.0.2.1")
                },
                port: 80,
                packets: 5,
                bytes: 4000,
            },
            flow: FlowFields {
                payload_out: 120,
                payload_in: 3600,
                missed_bytes: 0,
                retransmitted_bytes: 3,
                ip_bytes_out: 800,
                ip_bytes_in: 3900,
                history: if v6 { String::new() } else { "ShADadFf".into() },
                midstream: v6,
            },
            tunnel: (!v6).then(|| {
                Box::new(model::flow::TunnelFields {
                    kind: "vxlan",
                    id: Some(7),
                    src_ip: "192.0.2.1".parse().expect("ip"),
                    dest_ip: "192.0.2.2".parse().expect("ip"),
                    depth: 1,
                })
            }),
            icmp: None,
            icmp_errors: None,
            http: vec![model::flow::HttpTransaction {
                method: Some("GET".into()),
                host: Some("example.test".into()),
                uri: Some("/a?b=\"c\"&d=\\e".into()),
                status: Some(200),
                request_bytes: 120,
                response_bytes: 3600,
                ..Default::default()
            }],
            tls: v6.then(|| {
                Box::new(model::flow::TlsInfo {
                    sni: Some("x.test".into()),
                    alpn: vec!["h2".into(), "http/1.1".into()],
                    version: Some("TLS 1.3".into()),
                    app_bytes_out: 5,
                    ..Default::default()
                })
            }),
            extra: Default::default(),
        }
    }

    fn side_of(full: bool, q: Quality) -> Side {
        Side {
            host: 1,
            host_name: Arc::from("WS-1 \"north\""),
            os: full.then_some(Os::Windows),
            process: Arc::new(Process {
                pid: Some(4332),
                ppid: full.then_some(1),
                executable: Some("C:\\Program Files\\Edge\\msedge.exe".into()),
                user: full.then(|| "CORP\\sven".into()),
                cmdline: full.then(|| "msedge.exe --type=\"renderer\"\n".into()),
                sha256: full.then(|| "ab".repeat(32)),
                signer: full.then(|| "Microsoft Corporation".into()),
                // Kernel-source fields: written only when set (tested with
                // the kernel source).
                ..Process::default()
            }),
            quality: q,
        }
    }

    #[test]
    fn written_as_the_serialize_form_writes() {
        let mut n = 0;
        for v6 in [false, true] {
            for client in [
                None,
                Some(side_of(true, Quality::Exact)),
                Some(side_of(false, Quality::RemoteOnly)),
            ] {
                for server in [None, Some(side_of(true, Quality::TimeWindow))] {
                    for conflict in [false, true] {
                        let f = AttributedFlow {
                            record: record(v6),
                            attribution: Attribution {
                                client: client.clone(),
                                server: server.clone(),
                                client_conflict: conflict,
                                server_conflict: false,
                            },
                        };
                        let json = f.to_json();
                        assert_eq!(json, reference(&f));
                        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 24);
    }
}
