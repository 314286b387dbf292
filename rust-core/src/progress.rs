//! Progress and log events emitted by the core while it works. The caller supplies the sink
//! (the CLI prints, the JNI bridge forwards to the Kestra task logger). Events are emitted on the
//! calling thread only, so a JNI sink never runs on a worker thread.

use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The name Kestra's loggers and the CLI print (`INFO`, `WARN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEvent {
    pub level: Level,
    pub message: String,
}

/// Where events go. Messages are redacted by `Log` before they reach the sink.
pub type Sink<'a> = &'a mut dyn FnMut(&LogEvent);

/// The logger handed through the core: wraps the caller's sink and redacts every message.
pub struct Log<'a> {
    sink: Sink<'a>,
    secrets: Vec<crate::secret::Secret>,
    /// Time spent inside `sink` so far (the report's `timingsMs.logging`).
    in_sink: Duration,
}

impl<'a> Log<'a> {
    pub fn new(sink: Sink<'a>, secrets: Vec<crate::secret::Secret>) -> Self {
        Log { sink, secrets, in_sink: Duration::ZERO }
    }

    /// Time spent inside the caller's sink so far.
    pub fn time_in_sink(&self) -> Duration {
        self.in_sink
    }

    pub fn emit(&mut self, level: Level, message: impl AsRef<str>) {
        let refs: Vec<&crate::secret::Secret> = self.secrets.iter().collect();
        let message = crate::secret::redact(message.as_ref(), &refs);
        let started = Instant::now();
        (self.sink)(&LogEvent { level, message });
        self.in_sink += started.elapsed();
    }

    /// A debug line with the process's peak resident memory so far (Linux `VmHWM`), after `phase`:
    /// how memory grows phase by phase (docs/reliability.md).
    pub fn peak_memory(&mut self, phase: &str) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(peak) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
            self.debug(format!("Peak memory after {phase}: {}", peak.trim()));
        }
    }

    pub fn debug(&mut self, message: impl AsRef<str>) {
        self.emit(Level::Debug, message)
    }
    pub fn info(&mut self, message: impl AsRef<str>) {
        self.emit(Level::Info, message)
    }
    pub fn warn(&mut self, message: impl AsRef<str>) {
        self.emit(Level::Warn, message)
    }
}

/// Live progress of a long transfer. libgit2 reports progress through callbacks that run on the
/// calling thread while it holds the operation, so the ticker owns the log for that time and
/// writes at most one line per interval: a big push shows progress, a small one stays quiet.
pub struct Ticker<'l, 's> {
    log: RefCell<&'l mut Log<'s>>,
    interval: Duration,
    last: Cell<Instant>,
}

impl<'l, 's> Ticker<'l, 's> {
    pub fn new(log: &'l mut Log<'s>) -> Self {
        Self::every(log, Duration::from_secs(2))
    }

    pub fn every(log: &'l mut Log<'s>, interval: Duration) -> Self {
        Ticker { log: RefCell::new(log), interval, last: Cell::new(Instant::now()) }
    }

    /// Logs the message (built only when due) once the interval has passed since the last line.
    pub fn tick(&self, message: impl FnOnce() -> String) {
        let now = Instant::now();
        if now.duration_since(self.last.get()) >= self.interval {
            self.last.set(now);
            self.log.borrow_mut().info(message());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticker_writes_at_most_one_line_per_interval_and_builds_no_message_before_due() {
        let mut lines = Vec::new();
        let mut sink = |e: &LogEvent| lines.push(e.message.clone());
        let mut log = Log::new(&mut sink, Vec::new());
        {
            let quiet = Ticker::every(&mut log, Duration::from_secs(3600));
            quiet.tick(|| panic!("a message is built only when it is due"));
        }
        {
            let every = Ticker::every(&mut log, Duration::ZERO);
            every.tick(|| "one".into());
            every.tick(|| "two".into());
        }
        assert_eq!(lines, ["one", "two"]);
    }
}
