//! A build without the `parquet` feature (the fuzz targets': none writes
//! Parquet, and Arrow is minutes of compiling): asking for a Parquet file is
//! an error, and no `ParquetFile` can exist.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::AlertFormat;

/// Never made: the constructors fail.
pub enum ParquetFile {}

impl ParquetFile {
    /// Fails: no Parquet in this build.
    pub fn create(path: &Path, _format: AlertFormat) -> Result<ParquetFile> {
        unavailable(path)
    }

    /// Fails: no Parquet in this build.
    pub fn for_sessions(path: &Path, _columns: &[&str]) -> Result<ParquetFile> {
        unavailable(path)
    }

    /// Unreachable: there is no such file.
    pub fn path(&self) -> &Path {
        match *self {}
    }

    /// Unreachable: there is no such file.
    pub fn push<T: Serialize>(&mut self, _row: &T) -> Result<()> {
        match *self {}
    }

    /// Unreachable: there is no such file.
    pub fn push_json(&mut self, _row: &[u8]) -> Result<()> {
        match *self {}
    }

    /// Unreachable: there is no such file.
    pub fn finish(self) -> Result<()> {
        match self {}
    }
}

fn unavailable(path: &Path) -> Result<ParquetFile> {
    bail!(
        "{}: this build of asim-rules has no Parquet (cargo feature `parquet`)",
        path.display()
    )
}
