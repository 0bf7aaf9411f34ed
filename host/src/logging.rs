//! Where the host's events go. The library prints nothing itself: it emits
//! `tracing` events (a refused row, a quarantined rule, a swap, a tenant
//! idle) with fields such as `tenant`, and a program chooses where they go.
//! [`init`] sends them to stderr as lines a person reads, or as one JSON
//! object per event for a log pipeline that filters them.

use std::fmt;

pub use tracing::Level;
use tracing::{field::Field, Event, Subscriber};
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
    Layer,
};

/// How events are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// A line per event, as `warning: ...` or `asim-rules serve: ...`.
    Human,
    /// A JSON object per event: time, level, target, message and fields.
    Json,
}

/// Sends the host's events at `level` and above to stderr in `format`, for
/// the rest of the process. A second call changes nothing.
pub fn init(format: LogFormat, level: Level) {
    // Only the host's own events: its dependencies' are not for its users.
    let only_ours = Targets::new().with_target("asim_rules", LevelFilter::from_level(level));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => tracing_subscriber::registry()
            .with(layer.event_format(Human).with_filter(only_ours))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_filter(only_ours),
            )
            .try_init(),
    };
}

/// Lines for a person: warnings say so; other events name the part of the
/// host they come from (`asim-rules serve: `, `asim-rules run: `). Fields
/// other than the message are for machines: the message already says them.
struct Human;

impl<S, N> FormatEvent<S, N> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        if *metadata.level() <= Level::WARN {
            write!(writer, "warning: ")?;
        } else {
            match scope(metadata.target()) {
                Some(scope) => write!(writer, "asim-rules {scope}: ")?,
                None => write!(writer, "asim-rules: ")?,
            }
        }
        let mut message = Message {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut message);
        message.result?;
        writeln!(writer)
    }
}

/// The command or service an event's module belongs to, if any.
fn scope(target: &str) -> Option<&str> {
    if let Some(command) = target.strip_prefix("asim_rules::cli::") {
        return command.split("::").next();
    }
    target.starts_with("asim_rules::serve").then_some("serve")
}

/// Writes an event's message and nothing else.
struct Message<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl tracing::field::Visit for Message<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_by_the_command_or_service_they_come_from() {
        assert_eq!(scope("asim_rules::cli::run"), Some("run"));
        assert_eq!(scope("asim_rules::cli::swap"), Some("swap"));
        assert_eq!(scope("asim_rules::serve::tenant::swap"), Some("serve"));
        assert_eq!(scope("asim_rules::inputs::indicators"), None);
    }
}
