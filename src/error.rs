//! The crate's one error type.
//!
//! Every failure a user can see (a bad config, a port already taken, a server
//! that will not answer) ends up as an [`Error`] whose message says *what* was
//! being done and *why* it failed, e.g.
//! `cannot bind server to 127.0.0.1:18677: Address already in use (os error 98)`.
//! The hot paths never build one: they count failures in atomics and only the
//! rare path (a dropped link, a config check) pays for a formatted message.

use std::fmt;

/// A message with the context it happened in, and optionally the error below it.
#[derive(Debug)]
pub struct Error {
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error that is complete in itself (no underlying cause).
    pub(crate) fn msg(context: impl Into<String>) -> Error {
        Error {
            context: context.into(),
            source: None,
        }
    }

    /// The underlying I/O error, if this error wraps one (used to tell an OS
    /// limit, such as too many open files, from a peer's fault).
    pub(crate) fn io_error(&self) -> Option<&std::io::Error> {
        self.source.as_ref()?.downcast_ref::<std::io::Error>()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {}", self.context, source),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// Adds context to any error on its way up: `file.read().context("reading config")?`.
pub trait Context<T> {
    /// Wraps the error with a fixed message.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error with a message built only when there is an error.
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.with_context(|| context.into())
    }

    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error {
            context: f(),
            source: Some(Box::new(e)),
        })
    }
}
