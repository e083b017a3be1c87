//! What happens to flow records once the capture engine has written them,
//! for `read`, `learn` and `live` alike: attribution, process windows,
//! detection, and the outputs they feed.

use crate::sink::{Profile, Sink};
use anyhow::Result;
use capture::FlowRecord;
use correlate::{AttributedFlow, Attributor, ProcessWindow, ProcessWindows};
use rules::baseline::StoreError;
use rules::Detector;
use std::collections::BTreeMap;
use std::io::Write;

/// Packet time between two looks at the open windows.
const WINDOW_TICK: u64 = capture::time::SECOND;

/// Where attributed flows, process windows and alerts go.
pub struct Outputs {
    flows: Option<Sink>,
    windows: Option<Sink>,
    alerts: Option<Sink>,
    detector: Detector,
    /// `--pcap-out`: the frames kept, and a pcap per alert.
    pcap: Option<crate::pcap_out::FrameStore>,
    /// `--publish`: the lines also go to NATS.
    publisher: Option<transport::Publisher>,
    err: Option<std::io::Error>,
    baseline_err: Option<StoreError>,
    /// Records written, kept for the caller to free (see
    /// [`Stage::spent`]); `None`: dropped once written.
    spent: Option<Vec<FlowRecord>>,
    /// How many `spent` keeps at most; the rest are dropped once written.
    spent_max: usize,
}

impl Outputs {
    /// Outputs to these writers (each optional), in `profile`, and the
    /// detector.
    pub fn new(
        flows: Option<Box<dyn Write + Send>>,
        windows: Option<Box<dyn Write + Send>>,
        alerts: Option<Box<dyn Write + Send>>,
        profile: &'static dyn Profile,
        detector: Detector,
    ) -> Self {
        let sink = |w: Box<dyn Write + Send>| Sink::new(w, profile);
        Outputs {
            flows: flows.map(sink),
            windows: windows.map(sink),
            alerts: alerts.map(sink),
            detector,
            pcap: None,
            publisher: None,
            err: None,
            baseline_err: None,
            spent: None,
            spent_max: 0,
        }
    }

    /// Outputs to these writers, each also published when `publisher`
    /// is given (which is finished with the run).
    pub fn with_publisher(
        flows: Option<Box<dyn Write + Send>>,
        windows: Option<Box<dyn Write + Send>>,
        alerts: Option<Box<dyn Write + Send>>,
        profile: &'static dyn Profile,
        detector: Detector,
        publisher: Option<transport::Publisher>,
    ) -> Self {
        use crate::publish::tee;
        let p = publisher.as_ref();
        let mut o = Outputs::new(
            tee(flows, p, transport::Kind::Flow),
            tee(windows, p, transport::Kind::Window),
            tee(alerts, p, transport::Kind::Alert),
            profile,
            detector,
        );
        o.publisher = publisher;
        o
    }

    /// Writes a pcap of each alert's flows from `store`.
    pub fn with_pcap(mut self, store: Option<crate::pcap_out::FrameStore>) -> Self {
        self.pcap = store;
        self
    }

    fn flow(&mut self, f: AttributedFlow, windows: &mut ProcessWindows) {
        windows.add(&f, &mut |w| self.window(w));
        if let (Some(out), None) = (self.flows.as_mut(), self.err.as_ref()) {
            if let Err(e) = out.flow(&f) {
                self.err = Some(e);
            }
        }
        if let Some(spent) = self.spent.as_mut().filter(|s| s.len() < self.spent_max) {
            spent.push(f.record);
        }
    }

    fn window(&mut self, w: ProcessWindow) {
        if let (Some(out), None) = (self.windows.as_mut(), self.err.as_ref()) {
            if let Err(e) = out.window(&w) {
                self.err = Some(e);
            }
        }
        self.detector.push(w);
    }

    /// Judges the windows closed so far; each alert line is flushed at once
    /// so a reader following the file sees it.
    fn judge(&mut self) {
        if self.baseline_err.is_some() {
            return;
        }
        let (alerts, err, pcap) = (&mut self.alerts, &mut self.err, &mut self.pcap);
        let result = self.detector.flush(&mut |a| {
            if let Some(p) = pcap.as_mut() {
                p.write(&a);
            }
            if let (Some(out), None) = (alerts.as_mut(), err.as_ref()) {
                if let Err(e) = out.alert(&a).and_then(|()| out.flush()) {
                    *err = Some(e);
                }
            }
        });
        if let Err(e) = result {
            self.baseline_err = Some(e);
        }
    }

    /// Flushes the writers.
    fn flush(&mut self) {
        if self.err.is_some() {
            return;
        }
        for out in [
            self.flows.as_mut(),
            self.windows.as_mut(),
            self.alerts.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = out.flush() {
                self.err = Some(e);
                return;
            }
        }
    }

    /// Alerts written so far, by rule id (rules without any left out).
    pub fn alerts_by_rule(&self) -> &BTreeMap<&'static str, u64> {
        &self.detector.summary.alerts
    }
}

/// Attribution, windows and outputs, fed by the capture loop.
pub struct Stage {
    /// The attribution stage (its index takes feed events).
    pub attributor: Attributor,
    /// Open process windows.
    pub windows: ProcessWindows,
    /// Outputs and the detector.
    pub out: Outputs,
    last_tick: u64,
}

impl Stage {
    /// A stage over these parts.
    pub fn new(attributor: Attributor, windows: ProcessWindows, out: Outputs) -> Self {
        Stage {
            attributor,
            windows,
            out,
            last_tick: 0,
        }
    }

    /// A flow the engine wrote.
    pub fn record(&mut self, r: FlowRecord) {
        let Stage {
            attributor,
            windows,
            out,
            ..
        } = self;
        windows.observe(&r);
        attributor.push(r, &mut |f| out.flow(f, windows));
    }

    /// Every flow that ended by packet time `ts` has been handed over.
    pub fn time(&mut self, ts: u64) {
        let Stage {
            attributor,
            windows,
            out,
            last_tick,
        } = self;
        attributor.advance(ts, &mut |f| out.flow(f, windows));
        // Closing windows scans the open ones: once a second of packet time is plenty.
        if ts >= *last_tick + WINDOW_TICK {
            *last_tick = ts;
            windows.advance(ts, &mut |w| out.window(w));
            out.judge();
        }
    }

    /// From now on, keeps each record once written, up to `at_most` between
    /// two calls of [`Stage::spent`], to give to the thread that made it
    /// (freed on the stage, a record's blocks go back to that thread's
    /// allocator arena under its lock, and the two threads queue on it).
    /// The bound keeps a bunch that attribution lets go at once from
    /// being held, and its room kept.
    pub fn keep_spent(&mut self, at_most: usize) {
        self.out.spent = Some(Vec::with_capacity(at_most));
        self.out.spent_max = at_most;
    }

    /// The records written since the last call (none unless
    /// [`Stage::keep_spent`] was called).
    pub fn spent(&mut self) -> impl Iterator<Item = FlowRecord> + '_ {
        self.out.spent.iter_mut().flat_map(|v| v.drain(..))
    }

    /// Frames copied for `--pcap-out`.
    pub fn frames(&mut self, batch: Vec<crate::pcap_out::FrameCopy>) {
        if let Some(p) = self.out.pcap.as_mut() {
            p.add(batch);
        }
    }

    /// Flushes the writers (live mode, between packets).
    pub fn flush(&mut self) {
        self.out.flush();
    }

    /// End of input: every waiting flow, every open window, every pending
    /// judgement; the parts back, and the first errors.
    pub fn finish(
        self,
    ) -> (
        Attributor,
        ProcessWindows,
        Detector,
        Option<std::io::Error>,
        Option<StoreError>,
    ) {
        let Stage {
            mut attributor,
            mut windows,
            mut out,
            ..
        } = self;
        // The reading is over: nobody takes records back any more, and
        // the last ones written are dropped as they go.
        out.spent = None;
        attributor.finish(&mut |f| out.flow(f, &mut windows));
        windows.finish(&mut |w| out.window(w));
        out.judge();
        if out.baseline_err.is_none() {
            out.baseline_err = out.detector.close().err();
        }
        out.flush();
        if let Some(p) = &out.pcap {
            p.print_summary();
        }
        if let Some(p) = out.publisher.take() {
            crate::publish::finish(p);
        }
        let Outputs {
            detector,
            err,
            baseline_err,
            ..
        } = out;
        (attributor, windows, detector, err, baseline_err)
    }
}

/// Turns `Stage::finish`'s errors into the run's result.
pub fn result(err: Option<std::io::Error>, baseline_err: Option<StoreError>) -> Result<()> {
    if let Some(e) = err {
        return Err(anyhow::Error::new(e).context("writing output"));
    }
    if let Some(e) = baseline_err {
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::record::{EndpointFields, EventFields, Transport};
    use correlate::{AttributionConfig, SocketIndex};
    use rules::{Baseline, Mode, Policy};

    const T: u64 = 1_700_000_000_000_000;

    fn stage() -> Stage {
        let config = rules::config::Config::default();
        let caps = config.baseline.clone();
        let mode = Mode {
            detect: false,
            learn: false,
        };
        let detector = Detector::new(Policy::new(config), Baseline::new(caps), None, mode, 60);
        let profile = crate::sink::profile("native").expect("the native profile");
        let out = Outputs::new(None, None, None, profile, detector);
        let index = SocketIndex::new(AttributionConfig::default());
        let attributor = Attributor::new(index).with_complete_index();
        Stage::new(attributor, ProcessWindows::new(60, 0, 1_000), out)
    }

    fn record(port: u16) -> FlowRecord {
        let end = |ip: [u8; 4], port| EndpointFields {
            ip: ip.into(),
            port,
            packets: 1,
            bytes: 60,
        };
        let event = EventFields {
            start: T,
            end: T,
            reason: "fin",
        };
        let (client, server) = (end([10, 0, 0, 5], port), end([192, 0, 2, 1], 80));
        FlowRecord::new(event, Transport::Tcp, client, server)
    }

    /// Records are kept once written, up to the bound between two takes;
    /// none is kept unless asked, nor once the reading is over.
    #[test]
    fn written_records_are_kept_up_to_the_bound() {
        let mut s = stage();
        s.record(record(40000));
        s.time(T + 3_600 * capture::time::SECOND);
        assert_eq!(s.spent().count(), 0, "kept without being asked");
        s.keep_spent(2);
        for port in 40001..40006 {
            s.record(record(port));
        }
        s.time(T + 7_200 * capture::time::SECOND);
        let ports: Vec<u16> = s.spent().map(|r| r.source.port).collect();
        assert_eq!(ports, [40001, 40002]);
        assert_eq!(s.spent().count(), 0, "taken twice");
        s.record(record(40010));
        let (attributor, ..) = s.finish();
        assert_eq!(attributor.coverage.flows, 7);
    }
}
