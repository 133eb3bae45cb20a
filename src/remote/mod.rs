//! The way to a host for the layers above (modules, releases): a pooled
//! SSH connection or this machine, behind one [`Transport`] with its own
//! error type. Below modules/ and release/, above ssh/.

#[cfg(test)]
pub mod replay;
mod transport;

pub(crate) use crate::ssh::nonce;
pub(crate) use transport::hex;
pub use transport::{Transport, TransportError};
