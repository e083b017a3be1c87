//! Shell completions and manual pages, generated from the command line.

mod common;

use common::procflow;

#[test]
fn completions_are_valid_scripts_naming_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = procflow(&["completions", shell]);
        assert!(run.status.success(), "{shell}: {}", run.stderr);
        for cmd in ["flows", "read", "learn", "live", "config", "sockets"] {
            assert!(run.stdout.contains(cmd), "{shell} names no {cmd}");
        }
    }
    // bash parses its script without running it.
    let script = procflow(&["completions", "bash"]).stdout;
    let path = std::env::temp_dir().join(format!("procflow-{}.bash", std::process::id()));
    std::fs::write(&path, &script).expect("write");
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(script.contains("--feed-format"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn manual_pages_for_the_tool_and_each_command() {
    let run = procflow(&["man"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.contains(".TH procflow 1"), "{}", run.stdout);
    let dir = std::env::temp_dir().join(format!("procflow-man-{}", std::process::id()));
    let run = procflow(&["man", "--dir", &dir.display().to_string()]);
    assert!(run.status.success(), "{}", run.stderr);
    let read = std::fs::read_to_string(dir.join("procflow-read.1")).expect("read page");
    assert!(read.contains(".TH procflow-read 1"), "{read}");
    assert!(read.contains("accept\\-bad\\-feeds"), "{read}");
    for page in ["procflow.1", "procflow-live.1", "procflow-flows.1"] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
