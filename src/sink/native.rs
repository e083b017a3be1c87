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
        out.extend_from_slice(r.to_json().as_bytes());
    }

    fn flow(&self, f: &AttributedFlow, out: &mut Vec<u8>) {
        out.extend_from_slice(f.to_json().as_bytes());
    }

    fn window(&self, w: &ProcessWindow, out: &mut Vec<u8>) {
        out.extend_from_slice(w.to_json().as_bytes());
    }

    fn alert(&self, a: &Alert, out: &mut Vec<u8>) {
        out.extend_from_slice(a.to_json().as_bytes());
    }
}
