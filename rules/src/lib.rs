//! Baselines, the AN0144 / AN0145 detections, and alerts.
//!
//! This crate sees only attributed, aggregated per-process records from
//! `correlate`. It holds no code yet: the detections come after attribution.
