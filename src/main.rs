//! procflow: which process on which host sent this outbound web traffic,
//! how much, and is that normal here.

mod cli;
mod detection;
mod docs;
mod flows;
mod live;
mod pcap_out;
mod pipeline;
mod progress;
mod publish;
mod read;
mod relay;
mod report;
mod sink;
mod sockets;
mod stage;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Flows(a) => flows::run(&a),
        cli::Command::Read(a) => read::run(&a),
        cli::Command::Learn(a) => read::learn(&a),
        cli::Command::Config(a) => detection::config_command(&a),
        cli::Command::Live(a) => live::run(&a),
        cli::Command::Sockets(a) => sockets::run(&a),
        cli::Command::Relay(a) => relay::run(&a),
        cli::Command::Report(a) => report::run(&a),
        cli::Command::Completions(a) => docs::completions(&a),
        cli::Command::Man(a) => docs::man(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("procflow: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
