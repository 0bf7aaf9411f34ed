//! Alerts in the alert stream: `serve --nats` publishes each with its
//! `AlertId` as the message id, so an evaluation repeated after a takeover
//! or a restart stores nothing twice within the duplicate window; `alerts
//! --nats` reads them back.

use std::{io::Write, sync::Arc};

use anyhow::{Context, Result};
use async_nats::jetstream::{
    context::{GetStreamErrorKind, PublishAckFuture},
    message::PublishMessage,
    ErrorCode,
};

use super::{Connection, Owner, ALERT_STREAM};
use crate::outputs::AlertMessages;

/// One tenant's alerts, on their way to the alert stream.
pub struct AlertPublisher {
    connection: Arc<Connection>,
    subject: String,
    pending: Vec<PublishAckFuture>,
}

impl AlertPublisher {
    /// A publisher of `owner`'s alerts.
    pub fn new(connection: Arc<Connection>, owner: &Owner) -> AlertPublisher {
        AlertPublisher {
            connection,
            subject: owner.alert_subject(),
            pending: Vec::new(),
        }
    }
}

impl AlertMessages for AlertPublisher {
    fn send(&mut self, id: &str, record: Vec<u8>) -> Result<()> {
        let message = PublishMessage::build()
            .message_id(id)
            .payload(record.into());
        let send = self
            .connection
            .jetstream
            .send_publish(self.subject.clone(), message);
        let ack = self
            .connection
            .runtime
            .block_on(send)
            .with_context(|| format!("cannot publish an alert to {}", self.subject))?;
        self.pending.push(ack);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for ack in self.pending.drain(..) {
            self.connection
                .runtime
                .block_on(std::future::IntoFuture::into_future(ack))
                .with_context(|| {
                    format!(
                        "the alert stream did not store an alert of {}",
                        self.subject
                    )
                })?;
        }
        Ok(())
    }
}

/// Writes `owner`'s alerts stored so far to `out`, a line each, in the
/// order they were stored; how many.
pub fn write_alerts(connection: &Connection, owner: &Owner, out: &mut dyn Write) -> Result<u64> {
    let runtime = &connection.runtime;
    // Only read: the stream is created (with its replicas) by `serve`.
    let stream = match runtime.block_on(connection.jetstream.get_stream(ALERT_STREAM)) {
        Ok(stream) => stream,
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(error)
                if error.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                return Ok(0);
            }
            _ => {
                return Err(error).with_context(|| format!("cannot open the stream {ALERT_STREAM}"))
            }
        },
    };
    let subject = owner.alert_subject();
    let mut written = 0;
    let mut next = 1;
    loop {
        let get = stream.direct_get_next_for_subject(subject.as_str(), Some(next));
        let message = match runtime.block_on(get) {
            Ok(message) => message,
            Err(error)
                if error.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound =>
            {
                break;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {subject}"));
            }
        };
        next = message.sequence + 1;
        out.write_all(&message.payload)?;
        writeln!(out)?;
        written += 1;
    }
    Ok(written)
}
