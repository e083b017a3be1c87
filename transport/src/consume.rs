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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let js = server.connect().await?;
        let st = js
            .get_stream(stream)
            .await
            .map_err(|e| format!("stream {stream}: {e}"))?;
        let consumer = st
            .create_consumer(pull::Config {
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::None,
                filter_subject: filter.unwrap_or_default().to_string(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            let before = out.len();
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| e.to_string())?;
                let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                let headers = m.headers.as_ref();
                let id = headers
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_string());
                let sensor = headers
                    .and_then(|h| h.get("Procflow-Sensor"))
                    .map(|v| v.as_str().to_string());
                out.push(Stored {
                    sequence,
                    subject: m.subject.to_string(),
                    id,
                    sensor,
                    payload: m.payload.to_vec(),
                });
            }
            if out.len() == before {
                return Ok(out);
            }
        }
    })
}
