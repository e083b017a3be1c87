//! Baselines, the detection rules (AN0144, AN0145), and alerts.
//!
//! The crate sees only attributed, aggregated records: the per-process
//! windows of `correlate`. A [`Detector`] judges each closed window against
//! the [`Baseline`] (which hosts ran the image and since when, and its
//! volume history per host role), writes [`Alert`]s, and folds the window
//! into the baseline, which a [`baseline::Store`] keeps in an SQLite file.
//! What "uncommon", "unseen", "custom" and each threshold mean comes from
//! a TOML [`config::Config`], compiled into a [`Policy`]. The rules are
//! those of a [`detect::Registry`]: each implements [`detect::Rule`] in a
//! file of its own and is registered in [`detect::Registry::builtin`].
//!
//! ```
//! use rules::{config::Config, Baseline, Detector, Mode, Policy};
//!
//! let config = Config::default();
//! let baseline = Baseline::new(config.baseline.clone());
//! let mut detector = Detector::new(
//!     Policy::new(config),
//!     baseline,
//!     None, // in memory only; `baseline::backend::open` gives a writer
//!     Mode { detect: true, learn: true },
//!     600,
//! );
//! // detector.push(window) for each closed correlate::ProcessWindow, then:
//! let mut alerts = Vec::new();
//! detector.flush(&mut |a| alerts.push(a)).unwrap();
//! assert!(alerts.is_empty());
//! ```

pub mod alert;
pub mod baseline;
pub mod cidr;
pub mod config;
pub mod detect;
pub mod format;
pub mod glob;
pub mod policy;
pub mod summary;

pub use alert::Alert;
pub use baseline::Baseline;
pub use detect::{Detector, Mode};
pub use policy::Policy;
pub use summary::Summary;
