//! The cluster mode on NATS JetStream (docs/CLUSTER.md): tenants' rows
//! arrive as batches on streams (`publish` sends files there), `serve
//! --nats` plays them and publishes alerts.
//!
//! Subjects: `asim.<tenant>.sessions`, `asim.<tenant>.indicators` and
//! `asim.<tenant>.summaries` in the stream [`INPUT_STREAM`], and
//! `asim.global.indicators` for the indicators every tenant reads; alerts on
//! `asim.<tenant>.alerts` in [`ALERT_STREAM`].

pub mod alerts;
pub mod lease;
pub mod publish;
pub mod state;
pub mod status;
pub mod swaps;
pub mod wire;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, stream};

use crate::feed::Table;

/// The stream of every tenant's rows.
pub const INPUT_STREAM: &str = "ASIM_INPUT";
/// The name the indicators of every tenant are published under.
pub const GLOBAL: &str = "global";
/// The stream of every tenant's alerts.
pub const ALERT_STREAM: &str = "ASIM_ALERTS";
/// How long JetStream remembers a message id to drop a second publish of it:
/// a `publish` repeated within it (after a failure half-way) sends nothing
/// twice, and an evaluation repeated after a restart or a takeover within
/// it publishes no alert twice.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

/// Whose rows a subject carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// One tenant's.
    Tenant(String),
    /// Every tenant's (indicators only).
    Global,
}

impl Owner {
    /// A tenant, if its name can be a subject token.
    pub fn tenant(name: &str) -> Result<Owner> {
        check_token(name)?;
        if name == GLOBAL {
            bail!("tenant name {GLOBAL:?} is reserved for the indicators every tenant reads");
        }
        Ok(Owner::Tenant(name.to_owned()))
    }

    fn token(&self) -> &str {
        match self {
            Owner::Tenant(name) => name,
            Owner::Global => GLOBAL,
        }
    }

    /// The subject of its alerts.
    pub fn alert_subject(&self) -> String {
        format!("asim.{}.alerts", self.token())
    }

    /// The subjects of all its rows.
    pub fn all_subjects(&self) -> String {
        format!("asim.{}.*", self.token())
    }

    /// The subject of `table`'s rows.
    pub fn subject(&self, table: Table) -> String {
        let table = match table {
            Table::Sessions => "sessions",
            Table::Indicators => "indicators",
            Table::Summaries => "summaries",
        };
        format!("asim.{}.{table}", self.token())
    }
}

/// Refuses a name that cannot be one token of a subject.
fn check_token(name: &str) -> Result<()> {
    let fits = !name.is_empty()
        && name.len() <= crate::limits::TENANT_NAME_BYTES
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !fits {
        bail!(
            "tenant name {:?} cannot be a NATS subject token (1 to {} letters, digits, '-' or '_')",
            crate::printable::printable(name),
            crate::limits::TENANT_NAME_BYTES
        );
    }
    Ok(())
}

/// A connection to a NATS server, and the runtime its client runs on.
pub struct Connection {
    /// How many servers keep a copy of each stream and bucket this
    /// connection creates (1 on a single server, 3 in production).
    pub replicas: usize,
    /// Drives the client: callers block on its futures.
    pub runtime: tokio::runtime::Runtime,
    /// The core NATS client.
    pub client: async_nats::Client,
    /// Its JetStream view.
    pub jetstream: jetstream::Context,
}

impl Connection {
    /// Connects to `urls` (`nats://host:port`, comma-separated for a
    /// cluster's servers); streams and buckets it creates get `replicas`.
    pub fn open(urls: &str, replicas: usize) -> Result<Connection> {
        let servers = urls
            .split(',')
            .map(|url| url.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{urls}: not a NATS server address"))?;
        // One worker keeps the connection served while the caller reads files.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the NATS client's runtime")?;
        let client = runtime
            .block_on(
                async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(5))
                    .max_reconnects(Some(3))
                    .connect(servers.as_slice()),
            )
            .with_context(|| format!("{urls}: cannot connect to NATS"))?;
        let jetstream = {
            let _inside = runtime.enter();
            jetstream::new(client.clone())
        };
        Ok(Connection {
            replicas,
            runtime,
            client,
            jetstream,
        })
    }

    /// The input stream, created when it is not there yet.
    pub fn input_stream(&self) -> Result<stream::Stream> {
        let config = stream::Config {
            name: INPUT_STREAM.to_owned(),
            subjects: ["sessions", "indicators", "summaries"]
                .iter()
                .map(|table| format!("asim.*.{table}"))
                .collect(),
            duplicate_window: DUPLICATE_WINDOW,
            // Tenants read their messages by sequence.
            allow_direct: true,
            num_replicas: self.replicas,
            ..Default::default()
        };
        self.stream(config)
    }

    /// The alert stream, created when it is not there yet.
    pub fn alert_stream(&self) -> Result<stream::Stream> {
        self.stream(stream::Config {
            name: ALERT_STREAM.to_owned(),
            subjects: vec!["asim.*.alerts".to_owned()],
            duplicate_window: DUPLICATE_WINDOW,
            allow_direct: true,
            num_replicas: self.replicas,
            ..Default::default()
        })
    }

    /// Every key of a key-value bucket, sorted.
    pub fn keys(&self, store: &async_nats::jetstream::kv::Store) -> Result<Vec<String>> {
        use futures_util::StreamExt;
        self.runtime.block_on(async {
            let mut keys = store
                .keys()
                .await
                .context("cannot list a key-value bucket")?;
            let mut all = Vec::new();
            while let Some(key) = keys.next().await {
                all.push(key.context("cannot list a key-value bucket")?);
            }
            all.sort();
            Ok(all)
        })
    }

    fn stream(&self, config: stream::Config) -> Result<stream::Stream> {
        let name = config.name.clone();
        self.runtime
            .block_on(self.jetstream.get_or_create_stream(config))
            .with_context(|| format!("cannot open or create the JetStream stream {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_subject_tokens_and_global_is_reserved() {
        let tenant = Owner::tenant("acme-eu_1").unwrap();
        assert_eq!(tenant.subject(Table::Sessions), "asim.acme-eu_1.sessions");
        assert_eq!(
            Owner::Global.subject(Table::Indicators),
            "asim.global.indicators"
        );
        for bad in ["", "a.b", "a*", ">", "a b", "é", GLOBAL] {
            assert!(Owner::tenant(bad).is_err(), "{bad:?}");
        }
    }
}
