//! Where a tenant's batches come from: files in its spool folder, or (the
//! cluster mode) messages of the input stream. Either way a batch has a name
//! that sorts in arrival order and says its table, which the checkpoint
//! keeps; a batch named there can be read again.

use std::path::PathBuf;

use anyhow::{Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use crate::{
    feed::Table,
    inputs::{stream::Reader, InputFile, Rejects},
};

/// A tenant's batches.
pub(super) enum Source {
    /// Files in a folder, in name order.
    Spool(PathBuf),
    /// Messages of the cluster's input stream, in stream order.
    #[cfg(feature = "cluster")]
    Stream(Box<stream::StreamSource>),
}

impl Source {
    /// The names of batches not yet seen (`seen` says which were), in the
    /// order they are to be played.
    pub(super) fn new_names(&mut self, seen: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        match self {
            Source::Spool(spool) => spool_names(spool, seen),
            #[cfg(feature = "cluster")]
            Source::Stream(stream) => stream.new_names(),
        }
    }

    /// The table batch `name` feeds.
    pub(super) fn table_of(&self, name: &str) -> Table {
        match self {
            Source::Spool(_) => super::spool::table_of(name),
            #[cfg(feature = "cluster")]
            Source::Stream(_) => stream::table_of(name),
        }
    }

    /// Reads batch `name`'s rows with `columns` (files with `reader`); the rows read.
    pub(super) fn read(
        &mut self,
        name: &str,
        reader: &Reader,
        columns: &[(String, ColumnKind)],
        rejects: &mut Rejects,
        on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    ) -> Result<u64> {
        match self {
            Source::Spool(spool) => {
                let path = spool.join(name);
                anyhow::ensure!(path.exists(), "spool file {name} is gone");
                let input = InputFile::by_content(path.to_str().unwrap_or(name));
                reader(&input, columns, rejects, on_row)
            }
            #[cfg(feature = "cluster")]
            Source::Stream(stream) => stream.read(name, columns, on_row),
        }
    }
}

/// The spool's files not yet seen, in name order.
fn spool_names(spool: &std::path::Path, seen: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(spool) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            // Writers write `.name` or `name.tmp` and rename when done.
            .filter(|name| !name.starts_with('.') && !name.ends_with(".tmp"))
            .filter(|name| !seen(name))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("{}: cannot list", spool.display()))
        }
    };
    names.sort();
    Ok(names)
}

#[cfg(feature = "cluster")]
pub(super) mod stream {
    //! A tenant's messages: those of its subjects (`asim.<tenant>.*`) and the
    //! global indicators, merged in stream order, read by sequence (JetStream's
    //! direct get) from where the checkpoint left off. Nothing is acknowledged:
    //! the checkpoint is the position.

    use std::{collections::BTreeMap, sync::Arc};

    use anyhow::{bail, Context, Result};
    use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};
    use async_nats::jetstream::{
        message::StreamMessage,
        stream::{DirectGetErrorKind, Stream},
    };

    use crate::{
        cluster::{wire::Batch, Connection, Owner},
        feed::Table,
    };

    /// Messages taken per poll, so one busy tenant lets the others run (and
    /// its instance renew its leases).
    const PER_POLL: usize = 16;

    /// A tenant's view of the input stream.
    pub struct StreamSource {
        connection: Arc<Connection>,
        stream: Stream,
        subjects: [String; 2],
        /// The first sequence not yet listed.
        next: u64,
        /// Payloads listed and not yet read.
        fetched: BTreeMap<u64, bytes::Bytes>,
    }

    impl StreamSource {
        /// `owner`'s messages after those `seen` names (a checkpoint's).
        pub fn new<'a>(
            connection: Arc<Connection>,
            stream: Stream,
            owner: &Owner,
            seen: impl Iterator<Item = &'a String>,
        ) -> StreamSource {
            let last = seen.filter_map(|name| sequence_of(name)).max();
            StreamSource {
                connection,
                stream,
                subjects: [
                    owner.all_subjects(),
                    Owner::Global.subject(Table::Indicators),
                ],
                next: last.map_or(1, |last| last + 1),
                fetched: BTreeMap::new(),
            }
        }

        /// The next messages, named `SEQUENCE-SUBJECT` (`00000000000000000042-acme.sessions`).
        pub fn new_names(&mut self) -> Result<Vec<String>> {
            let mut names = Vec::new();
            while names.len() < PER_POLL {
                let mut next: Option<StreamMessage> = None;
                for subject in &self.subjects {
                    if let Some(message) = self.next_on(subject)? {
                        if next
                            .as_ref()
                            .is_none_or(|next| message.sequence < next.sequence)
                        {
                            next = Some(message);
                        }
                    }
                }
                let Some(message) = next else {
                    break;
                };
                self.next = message.sequence + 1;
                let subject = message.subject.trim_start_matches("asim.");
                names.push(format!("{:020}-{subject}", message.sequence));
                self.fetched.insert(message.sequence, message.payload);
            }
            Ok(names)
        }

        fn next_on(&self, subject: &str) -> Result<Option<StreamMessage>> {
            let get = self
                .stream
                .direct_get_next_for_subject(subject, Some(self.next));
            match self.connection.runtime.block_on(get) {
                Ok(message) => Ok(Some(message)),
                Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
                Err(error) => {
                    Err(error).with_context(|| format!("cannot read {subject} from {}", self.next))
                }
            }
        }

        /// Reads message `name`'s rows with `columns`.
        pub fn read(
            &mut self,
            name: &str,
            columns: &[(String, ColumnKind)],
            on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
        ) -> Result<u64> {
            let Some(sequence) = sequence_of(name) else {
                bail!("{name:?} names no message");
            };
            let payload = match self.fetched.remove(&sequence) {
                Some(payload) => payload,
                None => {
                    let get = self.stream.direct_get(sequence);
                    self.connection
                        .runtime
                        .block_on(get)
                        .with_context(|| {
                            format!(
                                "message {sequence} cannot be read again (gone from the stream?)"
                            )
                        })?
                        .payload
                }
            };
            let batch = Batch::decode(&payload).with_context(|| format!("message {sequence}"))?;
            let table = table_of(name);
            if batch.table() != table {
                bail!(
                    "message {sequence} holds {} rows, its subject says {}",
                    batch.table().name(),
                    table.name()
                );
            }
            batch.read(columns, on_row)?;
            Ok(batch.rows() as u64)
        }
    }

    /// The table a message's name ends with (its subject's last token).
    pub fn table_of(name: &str) -> Table {
        match name.rsplit('.').next() {
            Some("indicators") => Table::Indicators,
            Some("summaries") => Table::Summaries,
            _ => Table::Sessions,
        }
    }

    /// The sequence a message's name starts with.
    pub fn sequence_of(name: &str) -> Option<u64> {
        name.split_once('-')?.0.parse().ok()
    }
}
