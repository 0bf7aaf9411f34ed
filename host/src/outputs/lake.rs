//! The Amazon Security Lake layout of `--security-lake`.

use std::{
    collections::{btree_map::Entry, BTreeMap},
    fs,
};

use anyhow::{Context, Result};
use asim_rule_core::Timestamp;
use serde::Serialize;

use super::{parquet::ParquetFile, AlertFormat, SecurityLakeTarget};
use crate::time;

/// OCSF findings laid out as an Amazon Security Lake custom source: one
/// Parquet file per day of finding time in `ext/SOURCE/region=R/accountId=A/
/// eventDay=YYYYMMDD/`, named after its first finding's id.
pub struct SecurityLake {
    target: SecurityLakeTarget,
    days: BTreeMap<String, ParquetFile>,
}

impl SecurityLake {
    /// A lake with no files yet.
    pub fn new(target: SecurityLakeTarget) -> SecurityLake {
        SecurityLake {
            target,
            days: BTreeMap::new(),
        }
    }

    /// One finding made at `at`, whose id is `id`.
    pub fn push<T: Serialize>(&mut self, finding: &T, at: Timestamp, id: &str) -> Result<()> {
        let day = time::format(at)
            .get(..10)
            .unwrap_or_default()
            .replace('-', "");
        let file = match self.days.entry(day) {
            Entry::Occupied(file) => file.into_mut(),
            Entry::Vacant(place) => {
                let target = &self.target;
                let dir = target
                    .dir
                    .join("ext")
                    .join(&target.source)
                    .join(format!("region={}", target.region))
                    .join(format!("accountId={}", target.account_id))
                    .join(format!("eventDay={}", place.key()));
                fs::create_dir_all(&dir)
                    .with_context(|| format!("{}: cannot create", dir.display()))?;
                let path = dir.join(format!("{id}.parquet"));
                place.insert(ParquetFile::create(&path, AlertFormat::Ocsf)?)
            }
        };
        file.push(finding)
    }

    /// Writes every day's file whole.
    pub fn finish(self) -> Result<()> {
        for file in self.days.into_values() {
            let path = file.path().to_owned();
            file.finish()?;
            tracing::info!("{}: written", path.display());
        }
        Ok(())
    }
}
