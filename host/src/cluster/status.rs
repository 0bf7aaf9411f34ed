//! What the cluster says of itself (`asim-rules status --nats`): the live
//! instances, and per tenant who holds it, with which epoch, how far its
//! stored checkpoint has played, how many of its messages wait behind that,
//! and its watermark.

use std::time::Duration;

use anyhow::{Context, Result};
use async_nats::jetstream::{
    consumer::{pull, DeliverPolicy},
    kv,
};
use serde::Serialize;

use super::{
    lease::{Holder, INSTANCE_BUCKET, LEASE_BUCKET},
    state::{Pointer, POINTER_BUCKET},
    Connection, Owner,
};
use crate::feed::Table;

/// The cluster's state.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    /// The live instances' ids.
    pub instances: Vec<String>,
    /// Every tenant with a lease or a stored state.
    pub tenants: Vec<TenantStatus>,
}

/// One tenant, as the cluster holds it.
#[derive(Debug, Serialize)]
pub struct TenantStatus {
    /// Its name.
    pub tenant: String,
    /// The instance holding its lease; none between holders.
    pub holder: Option<String>,
    /// The epoch of its latest lease.
    pub epoch: u64,
    /// The last message its stored checkpoint played (or holds waiting).
    pub position: Option<u64>,
    /// Its messages in the stream after that position (its own and the
    /// global indicators).
    pub behind: u64,
    /// Its watermark in the stored checkpoint.
    pub watermark: Option<String>,
}

/// Reads the cluster's state.
pub fn read(connection: &Connection) -> Result<ClusterStatus> {
    let runtime = &connection.runtime;
    let bucket = |name: &'static str| {
        runtime
            .block_on(connection.jetstream.get_key_value(name))
            .with_context(|| {
                format!("cannot open the key-value bucket {name}: has no serve --nats run?")
            })
    };
    let (instances, leases, pointers) = (
        bucket(INSTANCE_BUCKET)?,
        bucket(LEASE_BUCKET)?,
        bucket(POINTER_BUCKET)?,
    );
    let mut names = connection.keys(&pointers)?;
    names.extend(connection.keys(&leases)?);
    names.sort();
    names.dedup();
    let stream = connection.input_stream()?;
    let mut tenants = Vec::new();
    for name in names {
        let get = |store: &kv::Store| {
            runtime
                .block_on(store.get(name.as_str()))
                .with_context(|| format!("cannot read tenant {name}"))
        };
        let holder: Option<Holder> =
            get(&leases)?.and_then(|value| serde_json::from_slice(&value).ok());
        let pointer: Pointer = get(&pointers)?
            .and_then(|value| serde_json::from_slice(&value).ok())
            .unwrap_or_default();
        let owner = Owner::tenant(&name)?;
        let config = pull::Config {
            filter_subjects: vec![
                owner.all_subjects(),
                Owner::Global.subject(Table::Indicators),
            ],
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: pointer.position.map_or(1, |position| position + 1),
            },
            inactive_threshold: Duration::from_secs(5),
            ..Default::default()
        };
        let consumer = runtime
            .block_on(stream.create_consumer(config))
            .with_context(|| format!("cannot count the messages of tenant {name}"))?;
        let behind = consumer.cached_info().num_pending;
        let _ = runtime.block_on(stream.delete_consumer(&consumer.cached_info().name));
        tenants.push(TenantStatus {
            holder: holder.map(|holder| holder.instance),
            epoch: pointer.epoch,
            position: pointer.position,
            behind,
            watermark: pointer.watermark.map(crate::time::format),
            tenant: name,
        });
    }
    Ok(ClusterStatus {
        instances: connection.keys(&instances)?,
        tenants,
    })
}
