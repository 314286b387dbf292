//! Progress and log events emitted by the core while it works. The caller supplies the sink
//! (the CLI prints, the JNI bridge forwards to the Kestra task logger). Events are emitted on the
//! calling thread only, so a JNI sink never runs on a worker thread.

use serde::Serialize;

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
}

impl<'a> Log<'a> {
    pub fn new(sink: Sink<'a>, secrets: Vec<crate::secret::Secret>) -> Self {
        Log { sink, secrets }
    }

    pub fn emit(&mut self, level: Level, message: impl AsRef<str>) {
        let refs: Vec<&crate::secret::Secret> = self.secrets.iter().collect();
        let message = crate::secret::redact(message.as_ref(), &refs);
        (self.sink)(&LogEvent { level, message });
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
