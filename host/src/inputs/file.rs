//! An input file: a path or standard input, opened with gzip undone and a
//! progress bar on a terminal, its format told from its name; and the
//! account of its rows that could not be read.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::PathBuf,
    sync::Arc,
};

use anyhow::{bail, Context, Result};
use asim_rule_core::Timestamp;

use crate::limits;

/// How a file's records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header row.
    Csv,
    /// Lines of text (IP lists).
    Text,
}

/// Shows a file's progress as it is read: given the file's name, its length
/// and its reader, returns a reader that reports what passes through (the
/// command line draws a bar; the library draws nothing).
#[derive(Clone)]
pub struct Progress(Arc<ProgressFn>);

type ProgressFn = dyn Fn(&str, u64, Box<dyn Read + Send>) -> Box<dyn Read + Send> + Send + Sync;

impl Progress {
    /// Progress shown by `wrap`.
    pub fn new(
        wrap: impl Fn(&str, u64, Box<dyn Read + Send>) -> Box<dyn Read + Send> + Send + Sync + 'static,
    ) -> Progress {
        Progress(Arc::new(wrap))
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Progress")
    }
}

/// A named input: a file or standard input.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// The name used in messages: the path as given, or `-`.
    pub name: String,
    pub(super) path: Option<PathBuf>,
    /// Its format.
    pub format: Format,
    pub(super) gzip: bool,
    pub(super) progress: Option<Progress>,
    pub(super) threads: usize,
    /// Bytes a line may have: a longer one is refused, not held in memory.
    pub(super) max_line: usize,
}

impl InputFile {
    /// `-` is standard input (JSON lines); otherwise the format comes from the
    /// name: `.jsonl`, `.ndjson`, `.json`, `.csv`, each optionally `.gz`.
    pub fn new(name: &str) -> Result<InputFile> {
        if name == "-" {
            return Ok(InputFile {
                name: name.into(),
                path: None,
                format: Format::JsonLines,
                gzip: false,
                progress: None,
                threads: 1,
                max_line: limits::LINE_BYTES,
            });
        }
        let lower = name.to_ascii_lowercase();
        let (stem, gzip) = match lower.strip_suffix(".gz") {
            Some(stem) => (stem, true),
            None => (lower.as_str(), false),
        };
        let format = match stem.rsplit_once('.').map(|(_, extension)| extension) {
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            Some("csv") => Format::Csv,
            _ => bail!("{name}: unknown input format (expected .jsonl, .ndjson, .json or .csv, optionally .gz)"),
        };
        Ok(InputFile {
            name: name.into(),
            path: Some(PathBuf::from(name)),
            format,
            gzip,
            progress: None,
            threads: 1,
            max_line: limits::LINE_BYTES,
        })
    }

    /// A file whose content decides what it holds (indicators, raw logs):
    /// as [`InputFile::new`], but any other name is text.
    pub fn by_content(name: &str) -> InputFile {
        InputFile::new(name).unwrap_or_else(|_| {
            let gzip = name.to_ascii_lowercase().ends_with(".gz");
            InputFile {
                name: name.into(),
                path: Some(PathBuf::from(name)),
                format: Format::Text,
                gzip,
                progress: None,
                threads: 1,
                max_line: limits::LINE_BYTES,
            }
        })
    }

    /// The file's name without its directories and `.gz`: how a list names
    /// its indicators.
    pub fn base_name(&self) -> String {
        let base = self
            .path
            .as_deref()
            .and_then(|path| path.file_name())
            .map_or_else(|| "stdin".into(), |name| name.to_string_lossy());
        base.strip_suffix(".gz").unwrap_or(&base).to_owned()
    }

    /// Whether this is standard input (which can be read only once).
    pub fn is_stdin(&self) -> bool {
        self.path.is_none()
    }

    /// When the file was last modified.
    pub fn modified(&self) -> Result<Timestamp> {
        let path = self
            .path
            .as_ref()
            .context("standard input has no file time")?;
        let modified = std::fs::metadata(path)
            .and_then(|metadata| metadata.modified())
            .with_context(|| format!("{}: reading the file time", self.name))?;
        let since_epoch = modified
            .duration_since(std::time::UNIX_EPOCH)
            .context("file time before 1970")?;
        Ok(i64::try_from(since_epoch.as_micros()).unwrap_or(Timestamp::MAX))
    }

    /// The same input read by `threads` worker threads where its format
    /// allows (ASIM JSON lines); 1 reads it on the calling thread.
    pub fn with_threads(self, threads: usize) -> InputFile {
        InputFile {
            threads: threads.max(1),
            ..self
        }
    }

    /// The same input with lines of at most `bytes` (at least one).
    pub fn with_max_line(self, bytes: usize) -> InputFile {
        InputFile {
            max_line: bytes.max(1),
            ..self
        }
    }

    /// The same input, its progress shown by `progress` as it is read.
    pub fn with_progress(self, progress: Progress) -> InputFile {
        InputFile {
            progress: Some(progress),
            ..self
        }
    }

    /// Opens the input for reading (its progress shown, when asked).
    pub fn open(&self) -> Result<Box<dyn BufRead + Send>> {
        let Some(path) = &self.path else {
            return Ok(Box::new(BufReader::new(io::stdin())));
        };
        let file = File::open(path).with_context(|| format!("{}: cannot open", self.name))?;
        let file: Box<dyn Read + Send> = match &self.progress {
            Some(Progress(wrap)) => {
                let length = file.metadata().map(|m| m.len()).unwrap_or(0);
                wrap(&self.name, length, Box::new(file))
            }
            None => Box::new(file),
        };
        let reader: Box<dyn Read + Send> = if self.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
    }
}

/// Rows that could not be read: each named with file, line and reason on
/// stderr (the first few hundred), all of them counted.
#[derive(Default)]
pub struct Rejects {
    /// Rows refused so far.
    pub count: u64,
    /// Each refused row's line and reason, when kept instead of printed
    /// ([`Rejects::kept`]).
    pub refused: Option<Vec<(u64, String)>>,
}

impl Rejects {
    /// Rejects that keep each refused row's line and reason in `refused`
    /// and print nothing: for tests and fuzzers that compare readers.
    pub fn kept() -> Rejects {
        Rejects {
            count: 0,
            refused: Some(Vec::new()),
        }
    }

    /// Records a refused row.
    pub fn reject(&mut self, input: &InputFile, line: u64, reason: &str) {
        self.count += 1;
        if let Some(refused) = &mut self.refused {
            refused.push((line, reason.to_owned()));
        } else if self.count <= limits::REJECTS_SHOWN {
            let warning = format!("{}:{line}: {reason}; row skipped", input.name);
            tracing::warn!(file = %input.name, line, "{}", crate::printable::printable(&warning));
        }
    }

    /// Rejected rows that were counted but not described.
    pub fn not_shown(&self) -> u64 {
        self.count.saturating_sub(limits::REJECTS_SHOWN)
    }
}
