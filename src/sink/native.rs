//! The native profile: procflow's own JSON lines, with nested Elastic
//! Common Schema names (DESIGN.md), as each type writes itself.

use super::Profile;
use capture::FlowRecord;
use correlate::{AttributedFlow, ProcessWindow};
use rules::Alert;

/// procflow's own JSON lines.
pub struct Native;

impl Profile for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn record(&self, r: &FlowRecord, out: &mut Vec<u8>) {
        let at = out.len();
        r.write_json(out);
        tag_in_place(out, at);
    }

    fn flow(&self, f: &AttributedFlow, out: &mut Vec<u8>) {
        let at = out.len();
        f.write_json(out);
        tag_in_place(out, at);
    }

    fn window(&self, w: &ProcessWindow, out: &mut Vec<u8>) {
        tagged(&w.to_json(), out);
    }

    fn alert(&self, a: &Alert, out: &mut Vec<u8>) {
        tagged(&a.to_json(), out);
    }
}

/// Puts the sensor's `observer` key last in the object written to `out`
/// from `at` on, when the sensor was named (flows: written straight into
/// the output, no string between).
fn tag_in_place(out: &mut Vec<u8>, at: usize) {
    let Some(tag) = super::identity::sensor().native_tag.as_deref() else {
        return;
    };
    if out.len() <= at || out.last() != Some(&b'}') {
        return;
    }
    out.pop();
    // No comma after the opening brace of an empty object.
    if out.len() > at + 1 {
        out.push(b',');
    }
    out.extend_from_slice(tag.as_bytes());
    out.push(b'}');
}

/// The object `json`, with the sensor's `observer` key last when the
/// sensor was named.
fn tagged(json: &str, out: &mut Vec<u8>) {
    let tag = super::identity::sensor().native_tag.as_deref();
    match (tag, json.strip_suffix('}')) {
        (Some(tag), Some(body)) => {
            out.extend_from_slice(body.as_bytes());
            if !body.ends_with('{') {
                out.push(b',');
            }
            out.extend_from_slice(tag.as_bytes());
            out.push(b'}');
        }
        _ => out.extend_from_slice(json.as_bytes()),
    }
}
