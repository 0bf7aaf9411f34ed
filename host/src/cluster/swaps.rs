//! Swaps across the cluster: `asim-rules swap --nats` stores the new build
//! in the object store (by digest) and a request in the key-value bucket
//! [`SWAP_BUCKET`] under `<tenant>.<stamp>`; whichever instance holds the
//! tenant hands it to the tenant as a request file (the spool mode's
//! machinery: validation, state carried over, probation and rollback) and
//! writes the answer back into the request's key, where `swap` reads it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use super::Connection;
use crate::serve::deploy::SwapAnswer;

/// The bucket of swap requests and their answers.
pub const SWAP_BUCKET: &str = "asim_swaps";

/// A request, and its answer once there is one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwapEntry {
    /// The rule's id or short name.
    pub rule: String,
    /// The new build's digest (stored as `build.<digest>.wasm`); none: the running one.
    pub component: Option<String>,
    /// The new parameters, all of them; none: the running ones.
    pub parameters: Option<BTreeMap<String, String>>,
    /// The holder's answer.
    pub answer: Option<SwapAnswer>,
}

/// The bucket of swap requests.
pub struct Swaps {
    store: kv::Store,
}

impl Swaps {
    /// Opens (creates when missing) the bucket.
    pub fn open(connection: &Connection) -> Result<Swaps> {
        let store = connection
            .runtime
            .block_on(connection.jetstream.create_key_value(kv::Config {
                bucket: SWAP_BUCKET.to_owned(),
                history: 1,
                num_replicas: connection.replicas,
                ..Default::default()
            }))
            .with_context(|| format!("cannot open the key-value bucket {SWAP_BUCKET}"))?;
        Ok(Swaps { store })
    }

    /// Queues `entry` for `tenant`; its key.
    pub fn queue(
        &self,
        connection: &Connection,
        tenant: &str,
        entry: &SwapEntry,
    ) -> Result<String> {
        let key = format!("{tenant}.{}", crate::serve::deploy::request_stamp());
        let value = serde_json::to_vec(entry)?.into();
        connection
            .runtime
            .block_on(self.store.create(&key, value))
            .with_context(|| format!("cannot queue a swap for tenant {tenant}"))?;
        Ok(key)
    }

    /// The request at `key`; none once it is gone.
    pub fn get(&self, connection: &Connection, key: &str) -> Result<Option<SwapEntry>> {
        let value = connection
            .runtime
            .block_on(self.store.get(key))
            .with_context(|| format!("cannot read swap request {key}"))?;
        value
            .map(|value| serde_json::from_slice(&value))
            .transpose()
            .with_context(|| format!("swap request {key} is damaged"))
    }

    /// The requests not answered yet of the tenants `held` says, oldest
    /// first, with the tenant of each.
    pub fn pending(
        &self,
        connection: &Connection,
        held: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, String, SwapEntry)>> {
        let keys = connection
            .keys(&self.store)
            .context("cannot list swap requests")?;
        let mut pending = Vec::new();
        for key in keys {
            let Some((tenant, _)) = key.split_once('.').filter(|(tenant, _)| held(tenant)) else {
                continue;
            };
            let tenant = tenant.to_owned();
            match self.get(connection, &key) {
                Ok(Some(entry)) if entry.answer.is_none() => pending.push((tenant, key, entry)),
                Ok(_) => {}
                Err(error) => {
                    let message = format!("{error:#}; skipped");
                    tracing::warn!("{}", crate::printable::printable(&message));
                }
            }
        }
        Ok(pending)
    }

    /// Writes `answer` into the request at `key` (if it is still there).
    pub fn answer(&self, connection: &Connection, key: &str, answer: SwapAnswer) -> Result<()> {
        let Some(mut entry) = self.get(connection, key)? else {
            return Ok(());
        };
        entry.answer = Some(answer);
        let value = serde_json::to_vec(&entry)?.into();
        connection
            .runtime
            .block_on(self.store.put(key, value))
            .with_context(|| format!("cannot answer swap request {key}"))?;
        Ok(())
    }

    /// Removes the request at `key` (its answer was read).
    pub fn forget(&self, connection: &Connection, key: &str) {
        let _ = connection.runtime.block_on(self.store.purge(key));
    }
}
