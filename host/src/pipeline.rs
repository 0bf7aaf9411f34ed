//! What every command that runs rules shares between reading and
//! evaluating: which reader reads a table's files. `run`, `replay`, `serve`
//! and the embedding example all take their readers from here.

use std::sync::Arc;

use crate::{
    feed::Table,
    inputs::{
        self,
        indicators::{self, ListOptions},
        normalize::SessionFormat,
        stream::Reader,
    },
};

/// How each table's files are read.
#[derive(Clone, Debug, Default)]
pub struct Readers {
    /// How plain IP lists and CSV feeds are dated and typed.
    pub indicators: ListOptions,
    /// The session files' format; none: recognised per file.
    pub sessions_format: Option<SessionFormat>,
}

impl Readers {
    /// The reader of `table`'s files.
    pub fn of(&self, table: Table) -> Reader {
        match table {
            Table::Indicators => indicators::reader(self.indicators.clone()),
            Table::Summaries => Arc::new(inputs::read_summaries),
            Table::Sessions => {
                let format = self.sessions_format;
                Arc::new(move |input, columns, rejects, on_row| {
                    inputs::read_sessions(input, format, columns, rejects, on_row)
                })
            }
        }
    }
}
