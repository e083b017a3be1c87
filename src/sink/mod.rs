//! Where every line procflow writes goes: a [`Sink`] renders flow records,
//! attributed flows, process windows and alerts through an output
//! [`Profile`] into one writer. `flows`, `read`, `learn` and `live` all
//! write through sinks, so an output format is one profile: a file in this
//! folder and one line in [`PROFILES`].

mod ecs;
mod eve;
pub mod identity;
mod native;

use capture::FlowRecord;
use correlate::{AttributedFlow, ProcessWindow};
use rules::Alert;
use std::io::{self, Write};

/// How each kind of line is written. A profile renders one item into
/// `out`, without the line's end; it never fails (the writer may).
pub trait Profile: Sync {
    /// The name `--output-profile` takes.
    fn name(&self) -> &'static str;
    /// A flow record as `procflow flows` writes it.
    fn record(&self, r: &FlowRecord, out: &mut Vec<u8>);
    /// A flow with the processes on its ends.
    fn flow(&self, f: &AttributedFlow, out: &mut Vec<u8>);
    /// A process window.
    fn window(&self, w: &ProcessWindow, out: &mut Vec<u8>);
    /// An alert.
    fn alert(&self, a: &Alert, out: &mut Vec<u8>);
}

/// Every output profile, the default first.
pub const PROFILES: &[&dyn Profile] = &[&native::Native, &ecs::Ecs, &eve::Eve];

/// The profile lines are written in unless another is named.
pub fn default_profile() -> &'static dyn Profile {
    &native::Native
}

/// The profile named `name`.
pub fn profile(name: &str) -> Option<&'static dyn Profile> {
    PROFILES.iter().copied().find(|p| p.name() == name)
}

/// For the command line: a profile name, checked against [`PROFILES`].
pub fn parse_profile(name: &str) -> Result<String, String> {
    match profile(name) {
        Some(p) => Ok(p.name().to_string()),
        None => Err(format!(
            "unknown output profile (known: {})",
            PROFILES
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// One output: a profile writing one line per item to one writer.
pub struct Sink {
    out: Box<dyn Write + Send>,
    profile: &'static dyn Profile,
    line: Vec<u8>,
}

impl Sink {
    /// Lines of `profile` into `out`.
    pub fn new(out: Box<dyn Write + Send>, profile: &'static dyn Profile) -> Self {
        Sink {
            out,
            profile,
            line: Vec::with_capacity(1024),
        }
    }

    /// Writes a flow record.
    pub fn record(&mut self, r: &FlowRecord) -> io::Result<()> {
        self.profile.record(r, &mut self.line);
        self.end_line()
    }

    /// Writes an attributed flow.
    pub fn flow(&mut self, f: &AttributedFlow) -> io::Result<()> {
        self.profile.flow(f, &mut self.line);
        self.end_line()
    }

    /// Writes a process window.
    pub fn window(&mut self, w: &ProcessWindow) -> io::Result<()> {
        self.profile.window(w, &mut self.line);
        self.end_line()
    }

    /// Writes an alert.
    pub fn alert(&mut self, a: &Alert) -> io::Result<()> {
        self.profile.alert(a, &mut self.line);
        self.end_line()
    }

    /// Flushes the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the line the profile rendered and writes it in one call, so a
    /// queue behind the writer sees whole lines.
    fn end_line(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        let r = self.out.write_all(&self.line);
        self.line.clear();
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name_and_unknown_ones_refused() {
        assert_eq!(parse_profile("native"), Ok("native".to_string()));
        let err = parse_profile("nope").unwrap_err();
        assert_eq!(err, "unknown output profile (known: native, ecs, eve)");
        let names: Vec<_> = PROFILES.iter().map(|p| p.name()).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique, "two profiles share a name");
    }

    /// A writer that keeps each write call apart.
    struct Calls(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_is_one_write_ending_in_a_newline() {
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sink = Sink::new(Box::new(Calls(calls.clone())), PROFILES[0]);
        let w = ProcessWindow::new("ws1".into(), "/usr/bin/curl".into(), 0, 600_000_000);
        sink.window(&w).unwrap();
        sink.window(&w).unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        let want = format!("{}\n", w.to_json()).into_bytes();
        assert_eq!(calls[0], want);
        assert_eq!(calls[1], want);
    }
}
