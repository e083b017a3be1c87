//! One stop signal for every live thread, and joins that do not wait
//! forever. SIGINT, SIGTERM, `--duration` and the end of capture (every
//! interface down) all set the same flag; each thread watches it, and the
//! main thread waits for each a bounded time.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the main thread waits, in all, for the helper threads (metrics,
/// /proc, feeds, output writers) once the run is over.
pub const GRACE: Duration = Duration::from_secs(5);

/// The run's stop signal, shared by every thread.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Stops on SIGINT and SIGTERM.
    pub fn on_signals() -> std::io::Result<Self> {
        let s = Shutdown::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, s.flag())?;
        }
        Ok(s)
    }

    /// Asks every thread to stop.
    pub fn request(&self) {
        self.0.store(true, Relaxed);
    }

    /// Whether a stop was asked.
    pub fn requested(&self) -> bool {
        self.0.load(Relaxed)
    }

    /// The flag itself, for threads that take an `AtomicBool`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// Joins `h` if it ends by `deadline`; otherwise says so and leaves it
/// (the process ends without it). A thread that panicked gives `None`.
pub fn join_by<T>(h: JoinHandle<T>, deadline: Instant, what: &str) -> Option<T> {
    while !h.is_finished() {
        if Instant::now() >= deadline {
            eprintln!(
                "procflow: warning: {what} did not stop within {} s of the end of the run; left behind",
                GRACE.as_secs()
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_thread_is_left_at_the_deadline() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let stuck = std::thread::spawn(move || rx.recv().is_ok());
        let began = Instant::now();
        let got = join_by(stuck, began + Duration::from_millis(100), "a test thread");
        assert_eq!(got, None);
        assert!(began.elapsed() < Duration::from_secs(2));
        drop(tx);
    }

    #[test]
    fn a_thread_that_ends_is_joined_with_its_result() {
        let s = Shutdown::default();
        let watch = s.clone();
        let h = std::thread::spawn(move || {
            while !watch.requested() {
                std::thread::sleep(Duration::from_millis(1));
            }
            7
        });
        s.request();
        let got = join_by(h, Instant::now() + Duration::from_secs(10), "a test thread");
        assert_eq!(got, Some(7));
    }
}
