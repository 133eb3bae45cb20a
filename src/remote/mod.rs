//! The way to a host for the layers above (modules, releases): a pooled
//! SSH connection or this machine, behind one [`Transport`] with its own
//! error type. Below modules/ and release/, above ssh/.

#[cfg(test)]
pub mod replay;
mod transport;

pub use transport::{Transport, TransportError};
pub(crate) use transport::{hex, nonce};
