//! Reading a stream back: every message stored, with its stream sequence
//! number and headers (what a consumer of the sensors' records sees).

use crate::connect::Server;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures_util::StreamExt;
use std::time::Duration;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The stream's sequence number.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// `Nats-Msg-Id`.
    pub id: Option<String>,
    /// `Procflow-Sensor`.
    pub sensor: Option<String>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Every message of `stream` (of subjects matching `filter`, when given),
/// oldest first: an ephemeral consumer that acknowledges nothing, so the
/// stream is left as it was for every other reader.
pub fn all(server: &Server, stream: &str, filter: Option<&str>) -> Result<Vec<Stored>, String> {
    let mut out = Vec::new();
    each(server, stream, filter, |m| {
        out.push(m);
        true
    })?;
    Ok(out)
}

/// Hands every message the stream held when the call began (of subjects
/// matching `filter`) to `on`, oldest first, without keeping them; `on`
/// returns false to stop. The number handed.
pub fn each(
    server: &Server,
    stream: &str,
    filter: Option<&str>,
    mut on: impl FnMut(Stored) -> bool,
) -> Result<u64, String> {
    let rt = crate::connect::runtime().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let js = server.connect().await?;
        let mut st = js
            .get_stream(stream)
            .await
            .map_err(|e| format!("stream {stream}: {e}"))?;
        // What is there now: messages published meanwhile wait for the
        // next reader.
        let last = st
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .last_sequence;
        if last == 0 {
            return Ok(0);
        }
        let consumer = st
            .create_consumer(pull::Config {
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::None,
                filter_subject: filter.unwrap_or_default().to_string(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut handed = 0u64;
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            let mut got = 0;
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| e.to_string())?;
                got += 1;
                let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                let headers = m.headers.as_ref();
                let id = headers
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_string());
                let sensor = headers
                    .and_then(|h| h.get("Procflow-Sensor"))
                    .map(|v| v.as_str().to_string());
                if sequence > last {
                    return Ok(handed);
                }
                handed += 1;
                let go_on = on(Stored {
                    sequence,
                    subject: m.subject.to_string(),
                    id,
                    sensor,
                    payload: m.payload.to_vec(),
                });
                if !go_on || sequence == last {
                    return Ok(handed);
                }
            }
            if got == 0 {
                return Ok(handed);
            }
        }
    })
}

/// What following a stream did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowEnd {
    /// Messages taken.
    pub received: u64,
    /// Times the server stopped answering.
    pub outages: u64,
}

/// Follows `stream` (subjects matching `filter`) on a thread of its own
/// until `stop` is set: every message from the start when `from_start`,
/// else from now on (this call, not the consumer's making, which waits
/// for the server: what was published in between is taken), handed to
/// `on` in order. A server that goes away is
/// waited for (said once per outage), and following resumes after the
/// last message taken, so none is taken twice or skipped.
pub fn follow(
    server: Server,
    stream: String,
    filter: String,
    from_start: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut on: impl FnMut(&[u8]) + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<FollowEnd>> {
    let rt = crate::connect::runtime()?;
    let start = if from_start {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from(std::time::SystemTime::now()),
        }
    };
    std::thread::Builder::new()
        .name("nats-follow".into())
        .spawn(move || {
            rt.block_on(follow_loop(
                &server, &stream, &filter, start, &stop, &mut on,
            ))
        })
}

async fn follow_loop(
    server: &Server,
    stream: &str,
    filter: &str,
    start: DeliverPolicy,
    stop: &std::sync::atomic::AtomicBool,
    on: &mut (dyn FnMut(&[u8]) + Send),
) -> FollowEnd {
    use std::sync::atomic::Ordering::Relaxed;
    let mut end = FollowEnd::default();
    let mut last: Option<u64> = None;
    let mut down = false;
    while !stop.load(Relaxed) {
        // After an outage, on from the last message taken.
        let deliver_policy = match last {
            Some(seq) => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
            None => start,
        };
        let result = follow_once(
            server,
            stream,
            filter,
            deliver_policy,
            stop,
            &mut last,
            &mut end,
            on,
        )
        .await;
        if let Err(e) = result {
            if !down {
                down = true;
                end.outages += 1;
                eprintln!(
                    "procflow: warning: NATS {}: {e}: socket events wait there until it answers",
                    server.shown()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        } else {
            down = false;
        }
    }
    end
}

/// One consumer's life: until `stop`, or an error.
#[allow(clippy::too_many_arguments)]
async fn follow_once(
    server: &Server,
    stream: &str,
    filter: &str,
    deliver_policy: DeliverPolicy,
    stop: &std::sync::atomic::AtomicBool,
    last: &mut Option<u64>,
    end: &mut FollowEnd,
    on: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<(), String> {
    use std::sync::atomic::Ordering::Relaxed;
    let js = server.connect().await?;
    // Made here too when no relay has published yet.
    let st = crate::connect::ensure_stream(&js, stream, crate::publish::subjects()).await?;
    let consumer = st
        .create_consumer(pull::Config {
            deliver_policy,
            ack_policy: AckPolicy::None,
            filter_subject: filter.to_string(),
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    while !stop.load(Relaxed) {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(200))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| e.to_string())?;
            let seq = m
                .info()
                .map(|i| i.stream_sequence)
                .map_err(|e| e.to_string())?;
            if last.is_some_and(|l| seq <= l) {
                continue;
            }
            *last = Some(seq);
            end.received += 1;
            on(&m.payload);
        }
    }
    Ok(())
}
