//! The configuration loader on any text.
//!
//! Oracles: an error is one line naming the file, with a line number
//! inside the text; a configuration that loads writes out as TOML that
//! loads back to the same configuration.

use super::scratch;
use rules::config::{load, parse, Config};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Not UTF-8: the file loader refuses it in one line.
        let e = scratch::with_file("toml", data, load);
        match e {
            Ok(_) => panic!("non-UTF-8 configuration loaded"),
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
        return;
    };
    match parse(text, "fuzz.toml") {
        Ok(cfg) => round_trip(&cfg),
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "error of several lines: {shown}");
            assert!(shown.starts_with("fuzz.toml:"), "{shown}");
            let lines = text.lines().count().max(1) + 1;
            assert!(e.line <= lines, "line {} of {lines}: {shown}", e.line);
        }
    }
}

fn round_trip(cfg: &Config) {
    let text = match toml::to_string(cfg) {
        Ok(t) => t,
        Err(e) => panic!("a loaded configuration does not write out: {e}"),
    };
    match parse(&text, "again.toml") {
        Ok(again) => assert_eq!(&again, cfg, "round trip changed it:\n{text}"),
        Err(e) => panic!("written configuration does not load: {e}\n{text}"),
    }
}
