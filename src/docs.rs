//! Shell completions and manual pages, generated from the command-line
//! definitions so they never drift from `--help`.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;

/// `procflow completions SHELL`: the script on standard output.
pub fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "procflow", &mut out);
    out.flush().context("standard output")
}

/// `procflow man [--dir DIR]`: procflow(1) on standard output, or every
/// command's page written into DIR.
pub fn man(a: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &a.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .context("standard output")?;
        return out.flush().context("standard output");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let page = |name: &str, c: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf)?;
        std::fs::write(&path, buf).with_context(|| format!("{}: cannot write", path.display()))
    };
    for sub in cmd.get_subcommands() {
        let name = format!("procflow-{}", sub.get_name());
        page(&name, sub.clone().display_name(name.clone()))?;
    }
    page("procflow", cmd)
}
