//! Windows events as JSON lines: flat records (NXLog `im_msvistalog` and
//! similar exports: `EventID`, `Hostname`, the event's fields at the top
//! level), Winlogbeat / Elastic Agent records (`winlog.event_id`,
//! `winlog.event_data`), and syslog rows whose `SyslogMessage` holds a
//! Sysmon for Linux event as XML. Sysmon EID 3 and Security 5156 are read;
//! other event ids are skipped.

use super::fields::{self, path, present, text, Fields};
use super::{sysmon, sysmon_xml, wfp, FeedFormat, Findings, Rec};
use crate::event::Os;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A flat record whose fields, when missing, may still be in its
/// `Message` text (`Key: value` lines): the older NXLog exports have no
/// `ProcessId` field, only `ProcessID` (Sysmon's own pid) and the message.
struct WithMessage<'a> {
    obj: &'a Map<String, Value>,
    message: Option<&'a str>,
}

impl Fields for WithMessage<'_> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        if let Some(v) = self.obj.get(key).and_then(text) {
            return Some(v);
        }
        let msg = self.message?;
        msg.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| Cow::Borrowed(v.trim()))
        })
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).and_then(present)
}

fn event_id(v: Option<&Value>) -> Result<u32, String> {
    let v = v.ok_or("missing EventID")?;
    text(v)
        .and_then(|t| fields::parse_pid(&t))
        .ok_or_else(|| format!("bad EventID {}", fields::quote(&v.to_string())))
}

/// The first of `keys` that holds a timestamp.
fn time_of(o: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| path(o, k).and_then(text))
        .and_then(|t| crate::timestamp::parse(&t))
}

/// Which reader an event id goes to, as `format` allows.
fn route(id: u32, provider: &str, format: FeedFormat) -> Option<&'static str> {
    let sysmon_ok = matches!(format, FeedFormat::Auto | FeedFormat::Sysmon);
    let wfp_ok = matches!(format, FeedFormat::Auto | FeedFormat::Wfp);
    if id == sysmon::EVENT_ID && sysmon_ok && (provider.is_empty() || provider.contains("Sysmon")) {
        Some("sysmon")
    } else if id == wfp::EVENT_ID && wfp_ok && !provider.contains("Sysmon") {
        Some("wfp")
    } else {
        None
    }
}

fn os_of(provider: &str) -> Os {
    if provider.starts_with("Linux") {
        Os::Linux
    } else {
        Os::Windows
    }
}

/// A flat Windows event record.
pub(crate) fn windows_flat(ctx: &mut Findings, o: &Map<String, Value>, format: FeedFormat) -> Rec {
    let id = match event_id(o.get("EventID")) {
        Ok(id) => id,
        Err(e) => return Rec::Bad(e),
    };
    let provider = str_of(o, "SourceName")
        .or_else(|| str_of(o, "ProviderName"))
        .or_else(|| str_of(o, "Channel"))
        .unwrap_or("");
    // `host` in NXLog exports is the collector, not the endpoint.
    let host = str_of(o, "Hostname").or_else(|| str_of(o, "Computer"));
    match route(id, provider, format) {
        Some(f @ "sysmon") => {
            ctx.seen(f);
            let fields = WithMessage {
                obj: o,
                message: str_of(o, "Message"),
            };
            sysmon::record(&fields, host, os_of(provider))
        }
        Some(f) => {
            ctx.seen(f);
            // The event log's time; `EventTime` (collector local time, no
            // zone) only when nothing better is there.
            let ts = time_of(o, &["TimeCreated", "@timestamp", "EventTime"]);
            wfp::record(o, host, ts)
        }
        None => Rec::Skip("other event id"),
    }
}

/// A Winlogbeat / Elastic Agent record.
pub(crate) fn winlogbeat(ctx: &mut Findings, o: &Map<String, Value>, format: FeedFormat) -> Rec {
    let id = match event_id(path(o, "winlog.event_id").or_else(|| path(o, "event.code"))) {
        Ok(id) => id,
        Err(e) => return Rec::Bad(e),
    };
    let provider = path(o, "winlog.provider_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let host = ["winlog.computer_name", "host.name", "host.hostname"]
        .iter()
        .find_map(|k| path(o, k).and_then(Value::as_str).and_then(present));
    let Some(f) = route(id, provider, format) else {
        return Rec::Skip("other event id");
    };
    ctx.seen(f);
    let Some(data) = path(o, "winlog.event_data").and_then(Value::as_object) else {
        return Rec::Bad("missing winlog.event_data".into());
    };
    if f == "sysmon" {
        sysmon::record(data, host, os_of(provider))
    } else {
        let ts = time_of(o, &["@timestamp", "event.created"]);
        wfp::record(data, host, ts)
    }
}

/// A syslog row (Azure Log Analytics `Syslog` and similar) that may carry
/// a Sysmon for Linux event in `SyslogMessage`.
pub(crate) fn syslog_row(ctx: &mut Findings, o: &Map<String, Value>, format: FeedFormat) -> Rec {
    let msg = o.get("SyslogMessage").and_then(Value::as_str).unwrap_or("");
    let Some(xml) = sysmon_xml::embedded_event(msg.as_bytes()) else {
        return Rec::Skip("not a Sysmon event");
    };
    let host = str_of(o, "Computer").or_else(|| str_of(o, "HostName"));
    match sysmon_xml::parse_event(xml) {
        Ok(ev) => sysmon_xml::dispatch(ctx, &ev, format, host),
        Err(e) => Rec::Bad(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{EventKind, Os, SocketEvent, Transport};
    use crate::feed::{read_reader, FeedFormat, FeedReport};

    fn read(input: &str, format: FeedFormat) -> (FeedReport, Vec<SocketEvent>) {
        let mut got = Vec::new();
        let r = read_reader(input.as_bytes(), "t", format, "dflt", &mut |e| got.push(e)).unwrap();
        (r, got)
    }

    // The older NXLog export: no ProcessId field; ProcessID is Sysmon's pid.
    const COVENANT: &str = r#"{"User":"NT AUTHORITY\\SYSTEM","DestinationIp":"172.18.39.255","SourceName":"Microsoft-Windows-Sysmon","Message":"Network connection detected:\r\nRuleName: \r\nUtcTime: 2019-12-05 01:49:28.817\r\nProcessGuid: {d14e8c55-47af-5de8-0000-0010eb030000}\r\nProcessId: 4\r\nImage: System\r\nUser: NT AUTHORITY\\SYSTEM\r\nProtocol: udp\r\nInitiated: true","ProcessID":2644,"DestinationPort":"138","Image":"System","host":"ip-172-18-39-102.ec2.internal","EventID":3,"SourceIp":"172.18.39.5","UtcTime":"2019-12-05 01:49:28.817","SourcePort":"138","@timestamp":"2019-12-05T01:49:34.041Z","Protocol":"udp","Initiated":"true","Hostname":"HFDC01.shire.com"}"#;

    #[test]
    fn nxlog_flat_records_and_the_pid_in_the_message() {
        let newer = r#"{"EventID":3,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5.mordor.local","ProcessId":"9076","ExecutionProcessID":9368,"Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","User":"MORDOR\\pgustavo","Protocol":"tcp","Initiated":"true","SourceIp":"172.18.39.5","SourcePort":"50783","DestinationIp":"10.10.10.5","DestinationPort":"80","UtcTime":"2020-07-22 04:00:48.097"}"#;
        let other = r#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"h"}"#;
        let input = format!("{COVENANT}\n{newer}\n{other}\n");
        let (r, got) = read(&input, FeedFormat::Auto);
        assert_eq!(
            (r.format, r.lines, r.events, r.bad_lines),
            ("sysmon", 3, 2, 0)
        );
        assert_eq!(r.skipped.get("other event id"), Some(&1));
        let c = &got[0];
        assert_eq!(c.process.pid, Some(4), "from Message, not ProcessID 2644");
        assert_eq!(c.host, "HFDC01.shire.com");
        assert_eq!(c.proto, Some(Transport::Udp));
        assert_eq!(c.process.executable.as_deref(), Some("System"));
        let n = &got[1];
        assert_eq!(
            n.process.pid,
            Some(9076),
            "ProcessId, not ExecutionProcessID"
        );
        assert_eq!(n.process.user.as_deref(), Some("MORDOR\\pgustavo"));
        assert_eq!(
            (n.remote_ip.to_string(), n.remote_port),
            ("10.10.10.5".into(), 80)
        );
        assert_eq!(n.os, Some(Os::Windows));
    }

    #[test]
    fn security_5156_flat_and_mixed_with_sysmon() {
        let wfp = r#"{"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"MKT01.pandalab.com","TimeCreated":"2023-08-15T09:53:48.739Z","@timestamp":"2023-08-15T09:53:48.739Z","EventID":5156,"ProcessID":"1048","Application":"\\device\\harddiskvolume2\\windows\\system32\\svchost.exe","Direction":"%%14593","SourceAddress":"192.168.1.41","SourcePort":"63829","DestAddress":"192.168.1.4","DestPort":"53","Protocol":"17","LayerName":"%%14611"}"#;
        let bind = r#"{"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"MKT01","EventID":"5158"}"#;
        let (r, got) = read(&format!("{wfp}\n{bind}\n"), FeedFormat::Auto);
        assert_eq!((r.format, r.events), ("wfp", 1));
        assert_eq!(r.skipped.get("other event id"), Some(&1));
        let e = &got[0];
        assert_eq!(capture::time::rfc3339(e.ts), "2023-08-15T09:53:48.739000Z");
        assert_eq!(e.process.pid, Some(1048));
        assert_eq!(e.kind, EventKind::Connect);
        let (r, _) = read(&format!("{wfp}\n{COVENANT}\n"), FeedFormat::Auto);
        assert_eq!((r.format, r.events), ("mixed", 2));
        let (r, _) = read(&format!("{wfp}\n{COVENANT}\n"), FeedFormat::Wfp);
        assert_eq!((r.format, r.events), ("wfp", 1));
        assert_eq!(r.skipped.get("other event id"), Some(&1));
    }

    #[test]
    fn winlogbeat_records() {
        let line = r#"{"@timestamp":"2021-03-01T10:00:00.123Z","event":{"code":"3","kind":"event"},"host":{"name":"ws01.example.com"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","computer_name":"WS01.example.com","event_id":3,"provider_name":"Microsoft-Windows-Sysmon","process":{"pid":2196},"event_data":{"UtcTime":"2021-03-01 09:59:58.100","ProcessId":"5120","Image":"C:\\Program Files\\Mozilla Firefox\\firefox.exe","User":"EXAMPLE\\alice","Protocol":"tcp","Initiated":"true","SourceIsIpv6":"false","SourceIp":"10.0.0.15","SourcePort":"50100","DestinationIp":"93.184.216.34","DestinationPort":"443"}}}"#;
        let other = r#"{"winlog":{"event_id":"11","provider_name":"Microsoft-Windows-Sysmon","event_data":{}}}"#;
        let broken = r#"{"winlog":{"event_id":3,"provider_name":"Microsoft-Windows-Sysmon","computer_name":"x"}}"#;
        let (r, got) = read(&format!("{line}\n{other}\n{broken}\n"), FeedFormat::Auto);
        assert_eq!((r.format, r.events, r.bad_lines), ("sysmon", 1, 1));
        assert_eq!(r.bad_examples[0].reason, "missing winlog.event_data");
        assert_eq!(r.bad_examples[0].line, 3);
        let e = &got[0];
        assert_eq!(e.host, "WS01.example.com");
        assert_eq!(
            e.process.pid,
            Some(5120),
            "event_data ProcessId, not winlog.process.pid"
        );
        assert_eq!(capture::time::rfc3339(e.ts), "2021-03-01T09:59:58.100000Z");
        assert_eq!(e.remote_port, 443);
    }

    #[test]
    fn sysmon_for_linux_in_syslog_rows() {
        let row = r#"{"TimeGenerated":"2022-05-11T18:10:25.513Z","Computer":"UBUNTU5","HostName":"UBUNTU5","SyslogMessage":"<Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/><EventID>3</EventID><Computer>UBUNTU5</Computer></System><EventData><Data Name=\"UtcTime\">2022-05-11 18:10:22.139</Data><Data Name=\"ProcessId\">17806</Data><Data Name=\"Image\">bash</Data><Data Name=\"User\">-</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">true</Data><Data Name=\"SourceIp\">192.168.2.5</Data><Data Name=\"SourcePort\">39634</Data><Data Name=\"DestinationIp\">192.168.2.6</Data><Data Name=\"DestinationPort\">443</Data></EventData></Event>","ProcessName":"sysmon"}"#;
        let other = r#"{"Computer":"UBUNTU5","SyslogMessage":"<Event><System><Provider Name=\"Linux-Sysmon\"/><EventID>5</EventID></System></Event>"}"#;
        let plain =
            r#"{"Computer":"UBUNTU5","SyslogMessage":"pam_unix(cron:session): session closed"}"#;
        let (r, got) = read(&format!("{row}\n{other}\n{plain}\n"), FeedFormat::Auto);
        assert_eq!((r.format, r.events, r.bad_lines), ("sysmon", 1, 0));
        assert_eq!(r.skipped.get("other event id"), Some(&1));
        assert_eq!(r.skipped.get("not a Sysmon event"), Some(&1));
        let e = &got[0];
        assert_eq!((e.host.as_str(), e.os), ("UBUNTU5", Some(Os::Linux)));
        assert_eq!(e.process.pid, Some(17806));
        assert_eq!(e.process.executable.as_deref(), Some("bash"));
    }
}
