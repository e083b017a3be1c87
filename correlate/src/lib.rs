//! Endpoint socket feeds in, flows attributed to host and process out.
//!
//! This crate reads the endpoint socket feed (native JSON lines, Sysmon
//! Event ID 3, osquery, auditd, local /proc), indexes sockets by 5-tuple and
//! time, and attaches host and process to each flow record from `capture`.
//! It knows nothing of detection rules. It holds no code yet: attribution is
//! the next piece of work on the pipeline.
