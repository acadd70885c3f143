//! The console of the `op` commands: what an author watches while
//! `op invoke run` serves.
//!
//! ```text
//! GET /project/api/project/hello -> demo::hello 200 in 1.2ms
//!     info  greeted Alice
//! warning: plugin call timed out  plugin=demo function=slow
//! ```
//!
//! One line per call (method, path, plugin and function, status, time),
//! the plugin's own lines indented under it, other events as
//! `level: message  fields`. Colour as [`stderr_colour`] decides. Other crates log at `warn` and up unless
//! `RUST_LOG` says otherwise (e.g. `RUST_LOG=debug`).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether what op writes on stderr gets colour (every command, `op serve`
/// too): never with `NO_COLOR` or `CLICOLOR=0`, always with
/// `CLICOLOR_FORCE`, otherwise on a terminal that supports it (anstream's
/// reading of the conventions).
pub fn stderr_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Installs the console as the global logger.
pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,op=info"));
    let ansi = stderr_colour();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .event_format(Console { ansi })
        .try_init();
}

/// The event format.
struct Console {
    ansi: bool,
}

/// The fields of one event.
#[derive(Default)]
struct Fields {
    message: String,
    status: Option<u64>,
    stream: Option<String>,
    plugin: Option<String>,
    function: Option<String>,
    ability: Option<String>,
    outcome: Option<String>,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "stream" => self.stream = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.rest, "  {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "stream" => self.stream = Some(value.to_string()),
            "plugin" => self.plugin = Some(value.to_string()),
            "function" => self.function = Some(value.to_string()),
            "ability" => self.ability = Some(value.to_string()),
            "outcome" => self.outcome = Some(value.to_string()),
            "request_id" => {}
            name => {
                let _ = write!(self.rest, "  {name}={value}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "status" {
            self.status = Some(value);
        } else {
            let _ = write!(self.rest, "  {}={value}", field.name());
        }
    }
}

const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => RED,
        Level::WARN => YELLOW,
        Level::INFO => "",
        _ => DIM,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S, N> FormatEvent<S, N> for Console
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = *meta.level();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let paint = |colour: &'static str| if self.ansi { colour } else { "" };
        let reset = if self.ansi { RESET } else { "" };
        match meta.target() {
            "op::call" => {
                let colour = match fields.status.unwrap_or(0) {
                    500.. => RED,
                    400..=499 => YELLOW,
                    300..=399 => CYAN,
                    _ => GREEN,
                };
                writeln!(writer, "{}{}{reset}", paint(colour), fields.message)
            }
            "op::timer" if fields.outcome.is_some() => {
                // A tick, like a call's line: green when it went well.
                let colour = if fields.outcome.as_deref() == Some("ok") {
                    GREEN
                } else {
                    RED
                };
                writeln!(writer, "{}{}{reset}", paint(colour), fields.message)
            }
            "op::plugin" if fields.stream.is_some() => {
                // A plugin's own line, under its call: the level (or the
                // stream it printed to), the text, and who said it (and
                // for which timer task).
                let tag = match fields.stream.as_deref() {
                    Some("log") | None => level_name(level),
                    Some(stream) => stream,
                };
                let timer = fields
                    .ability
                    .as_deref()
                    .map(|id| format!(", timer {id}"))
                    .unwrap_or_default();
                writeln!(
                    writer,
                    "    {}{tag:<7}{reset} {}  {}({}::{}{timer}){reset}",
                    paint(level_colour(level)),
                    fields.message,
                    paint(DIM),
                    fields.plugin.as_deref().unwrap_or("?"),
                    fields.function.as_deref().unwrap_or("?"),
                )
            }
            _ => writeln!(
                writer,
                "{}{}:{reset} {}{}{}{reset}",
                paint(level_colour(level)),
                level_name(level),
                fields.message,
                paint(DIM),
                fields.rest
            ),
        }
    }
}
