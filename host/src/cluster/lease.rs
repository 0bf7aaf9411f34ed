//! Who runs which tenant: a lease per tenant in a key-value bucket whose
//! entries live for the lease's time unless renewed (compare-and-set on the
//! revision the holder last wrote), and a heartbeat per live instance in
//! another, so each instance knows its share.

use std::time::Duration;

use anyhow::{Context, Result};
use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use super::Connection;

/// The tenants' leases, one key per tenant.
pub const LEASE_BUCKET: &str = "asim_leases";
/// The live instances, one key per instance.
pub const INSTANCE_BUCKET: &str = "asim_instances";

/// What a lease says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The instance that holds it.
    pub instance: String,
    /// Its epoch (raised by every new holder).
    pub epoch: u64,
}

/// A lease this instance holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The epoch it was taken with.
    pub epoch: u64,
    /// The revision of the lease's key last written by this instance.
    revision: u64,
}

/// The lease and instance buckets, as one instance sees them.
pub struct Leases {
    leases: kv::Store,
    instances: kv::Store,
    instance: String,
}

impl Leases {
    /// Opens (creates when missing) both buckets; entries expire after `ttl`.
    pub fn open(connection: &Connection, instance: &str, ttl: Duration) -> Result<Leases> {
        let bucket = |name: &str| {
            connection
                .runtime
                .block_on(connection.jetstream.create_key_value(kv::Config {
                    bucket: name.to_owned(),
                    history: 1,
                    max_age: ttl,
                    num_replicas: connection.replicas,
                    ..Default::default()
                }))
                .with_context(|| format!("cannot open the key-value bucket {name}"))
        };
        Ok(Leases {
            leases: bucket(LEASE_BUCKET)?,
            instances: bucket(INSTANCE_BUCKET)?,
            instance: instance.to_owned(),
        })
    }

    /// Says this instance is alive, for one more lease time.
    pub fn heartbeat(&self, connection: &Connection) -> Result<()> {
        connection
            .runtime
            .block_on(self.instances.put(&self.instance, "alive".into()))
            .context("cannot write this instance's heartbeat")?;
        Ok(())
    }

    /// How many instances are alive (this one included).
    pub fn live_instances(&self, connection: &Connection) -> Result<usize> {
        let live = connection
            .keys(&self.instances)
            .context("cannot list the live instances")?;
        Ok(live.len().max(1))
    }

    /// Takes `tenant`'s lease with `epoch` if nobody holds it.
    pub fn acquire(
        &self,
        connection: &Connection,
        tenant: &str,
        epoch: u64,
    ) -> Result<Option<Held>> {
        let holder = Holder {
            instance: self.instance.clone(),
            epoch,
        };
        let value = serde_json::to_vec(&holder)?.into();
        match connection
            .runtime
            .block_on(self.leases.create(tenant, value))
        {
            Ok(revision) => Ok(Some(Held { epoch, revision })),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(error) => {
                Err(error).with_context(|| format!("cannot take the lease of tenant {tenant}"))
            }
        }
    }

    /// Whether `tenant`'s lease is held by anyone.
    pub fn is_held(&self, connection: &Connection, tenant: &str) -> Result<bool> {
        let entry = connection
            .runtime
            .block_on(self.leases.entry(tenant))
            .with_context(|| format!("cannot read the lease of tenant {tenant}"))?;
        Ok(entry.is_some_and(|entry| entry.operation == kv::Operation::Put))
    }

    /// Renews a lease this instance holds; false when it was lost (expired
    /// and taken, or deleted).
    pub fn renew(&self, connection: &Connection, tenant: &str, held: &mut Held) -> Result<bool> {
        let holder = Holder {
            instance: self.instance.clone(),
            epoch: held.epoch,
        };
        let value = serde_json::to_vec(&holder)?.into();
        match connection
            .runtime
            .block_on(self.leases.update(tenant, value, held.revision))
        {
            Ok(revision) => {
                held.revision = revision;
                Ok(true)
            }
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => {
                Err(error).with_context(|| format!("cannot renew the lease of tenant {tenant}"))
            }
        }
    }

    /// Gives a lease up, so another instance can take it at once.
    pub fn release(&self, connection: &Connection, tenant: &str, held: &Held) {
        let delete = self
            .leases
            .delete_expect_revision(tenant, Some(held.revision));
        // Lost already, or the server gone: the lease expires by itself.
        let _ = connection.runtime.block_on(delete);
    }

    /// Says this instance is gone.
    pub fn leave(&self, connection: &Connection) {
        let _ = connection
            .runtime
            .block_on(self.instances.delete(&self.instance));
    }
}
