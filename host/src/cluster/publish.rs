//! Files into the input stream: read as `run` reads them (raw logs
//! normalized), every column the schema knows, sent as batches.

use std::collections::VecDeque;

use anyhow::{bail, Context, Result};
use asim_rule_core::schema::{self, ColumnKind};
use async_nats::jetstream::{context::PublishAckFuture, message::PublishMessage};

use super::{wire::BatchWriter, Connection, Owner};
use crate::{
    feed::Table,
    inputs::{stream::Reader, InputFile, Rejects},
    serve::deploy::digest,
};

/// Publishes awaited before more are sent: enough to keep the link busy.
const IN_FLIGHT: usize = 64;

/// What publishing one file came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Rows read and sent.
    pub rows: u64,
    /// Messages sent.
    pub messages: u64,
    /// Messages the stream already held (the same file published before,
    /// within the duplicate window), so dropped.
    pub duplicates: u64,
}

/// Every column of `table` the schema knows, as readers are given them.
pub fn all_columns(table: Table) -> Vec<(String, ColumnKind)> {
    let catalog = match table {
        Table::Sessions => schema::SESSION_COLUMNS,
        Table::Indicators => schema::INDICATOR_COLUMNS,
        Table::Summaries => schema::SUMMARY_COLUMNS,
    };
    catalog
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), *kind))
        .collect()
}

/// Sends `input`'s rows of `table` as batches of at most `batch_rows` rows
/// to `owner`'s subject. Each message's id is the owner, the table, the
/// batch's place in the file and its payload's digest: the same file
/// published again within the duplicate window is not stored twice.
pub fn publish_file(
    connection: &Connection,
    owner: &Owner,
    table: Table,
    input: &InputFile,
    reader: &Reader,
    batch_rows: usize,
    rejects: &mut Rejects,
) -> Result<Published> {
    let subject = owner.subject(table);
    let max_payload = connection.client.server_info().max_payload;
    let columns = all_columns(table);
    let mut writer = BatchWriter::new(table, &columns);
    let mut sender = Sender {
        connection,
        subject: &subject,
        max_payload,
        pending: VecDeque::new(),
        published: Published::default(),
    };
    reader(input, &columns, rejects, &mut |time, cells| {
        writer.push(time, cells)?;
        // Half the server's limit leaves room for the row that crosses it.
        if writer.rows() >= batch_rows || writer.bound() >= max_payload / 2 {
            sender.send(&mut writer)?;
        }
        Ok(())
    })
    .with_context(|| format!("{}: cannot publish to {subject}", input.name))?;
    if writer.rows() > 0 {
        sender.send(&mut writer)?;
    }
    sender
        .finish()
        .with_context(|| format!("{}: cannot publish to {subject}", input.name))
}

struct Sender<'a> {
    connection: &'a Connection,
    subject: &'a str,
    max_payload: usize,
    pending: VecDeque<PublishAckFuture>,
    published: Published,
}

impl Sender<'_> {
    fn send(&mut self, writer: &mut BatchWriter) -> Result<()> {
        let rows = writer.rows() as u64;
        let payload = writer.take()?;
        if payload.len() > self.max_payload {
            bail!(
                "a batch of {rows} rows takes {} bytes, more than the server takes ({}): publish with fewer --batch-rows",
                payload.len(),
                self.max_payload
            );
        }
        let id = format!(
            "{}.{}.{}",
            self.subject,
            self.published.messages,
            digest(&payload)
        );
        if self.pending.len() >= IN_FLIGHT {
            self.await_oldest()?;
        }
        let publish = PublishMessage::build()
            .message_id(id)
            .payload(payload.into());
        let jetstream = &self.connection.jetstream;
        let ack = self
            .connection
            .runtime
            .block_on(jetstream.send_publish(self.subject.to_owned(), publish))
            .context("cannot send a batch")?;
        self.pending.push_back(ack);
        self.published.messages += 1;
        self.published.rows += rows;
        Ok(())
    }

    fn await_oldest(&mut self) -> Result<()> {
        if let Some(ack) = self.pending.pop_front() {
            let ack = self
                .connection
                .runtime
                .block_on(std::future::IntoFuture::into_future(ack))
                .context("the stream did not take a batch")?;
            self.published.duplicates += u64::from(ack.duplicate);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Published> {
        while !self.pending.is_empty() {
            self.await_oldest()?;
        }
        Ok(self.published)
    }
}
