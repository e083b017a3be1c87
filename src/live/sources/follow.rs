//! Feed files that agents append to, followed like `tail -F`: each file
//! has a thread and a queue of its own, and waits when its queue is full
//! (the file keeps what is not read yet).

use super::{Source, SourceEnd, SourceSpec, Start};
use crate::cli::LiveArgs;
use crate::read::default_host;
use anyhow::{Context, Result};
use clap::Args;
use correlate::feed::FeedFormat;
use correlate::follow::{FileFollower, FollowConfig, StartAt};
use std::path::PathBuf;

/// The flags of followed feed files.
#[derive(Args, Debug)]
pub struct FollowArgs {
    /// Endpoint feed files, followed as agents append to them (like tail -F).
    #[arg(long = "feed", value_name = "FILE")]
    pub feeds: Vec<PathBuf>,
    /// Read --feed files from their start (default: only what is appended).
    #[arg(long)]
    pub feed_from_start: bool,
}

/// The followed-files source.
pub struct Follow;

/// Its registration.
pub const FOLLOW: Follow = Follow;

impl SourceSpec for Follow {
    fn name(&self) -> &'static str {
        "follow"
    }

    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>> {
        let a = &args.follow;
        if a.feeds.is_empty() {
            return Ok(None);
        }
        let format: FeedFormat = args.feed_format()?;
        let mut running = Followers(Vec::with_capacity(a.feeds.len()));
        for path in &a.feeds {
            let (_, tx) = start.queue();
            let mut cfg = FollowConfig::new(path);
            cfg.format = format;
            cfg.default_host = default_host(path);
            cfg.start = if a.feed_from_start {
                StartAt::Beginning
            } else {
                StartAt::End
            };
            match FileFollower::start(cfg, tx) {
                Ok(f) => running.0.push(f),
                Err(e) => {
                    Box::new(running).stop();
                    return Err(e).with_context(|| format!("--feed {}", path.display()));
                }
            }
        }
        Ok(Some(Box::new(running)))
    }
}

/// One follower per file.
struct Followers(Vec<FileFollower>);

impl Source for Followers {
    fn stop(self: Box<Self>) -> SourceEnd {
        let ends: Vec<_> = self.0.into_iter().map(FileFollower::shutdown).collect();
        let lines = ends
            .iter()
            .map(|f| {
                format!(
                    "feed {} followed: {} lines, {} socket events, {} bad lines, {} rotations, {} truncations{}",
                    f.path,
                    f.lines,
                    f.events,
                    f.bad_lines,
                    f.rotations,
                    f.truncations,
                    f.error.as_ref().map(|e| format!("; {e}")).unwrap_or_default()
                )
            })
            .collect();
        SourceEnd {
            lines,
            stats: serde_json::to_value(&ends).ok().map(|v| ("followed", v)),
        }
    }
}
