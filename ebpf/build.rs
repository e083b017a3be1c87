//! Compiles the eBPF programs (bpf/*.c) with clang into a CO-RE object the
//! crate embeds. clang and libbpf's headers (Debian: clang, libbpf-dev)
//! are needed; `PROCFLOW_CLANG` names another clang.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = std::env::var("PROCFLOW_CLANG").unwrap_or_else(|_| "clang".into());
    for f in ["bpf/sockets.bpf.c", "bpf/kernel_types.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=PROCFLOW_CLANG");
    let obj = out.join("sockets.bpf.o");
    let status = Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .args(["-c", "bpf/sockets.bpf.c", "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "{clang} could not compile bpf/sockets.bpf.c ({s}); libbpf-dev gives its headers"
        ),
        Err(e) => panic!(
            "{clang}: {e}: the eBPF socket source needs clang and libbpf-dev \
             (or build procflow with --no-default-features, without it)"
        ),
    }
}
