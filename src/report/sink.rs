//! The one interface of live printers: each takes an engine's events as
//! they happen (`herd play`'s [`crate::engine::events::PlayEvent`],
//! `herd run`'s [`crate::engine::command::Event`]) and writes what they
//! show. The store records the same stream on its own side.

use std::io;

/// A consumer of an event stream that writes it for people or scripts.
pub trait Sink<E> {
    /// Shows one event, as it happens.
    fn event(&mut self, event: &E) -> io::Result<()>;
}
