//! STUB for engine development.
use std::sync::Arc;

use crate::ssh::Connection;

pub enum Transport {
    Ssh(Arc<Connection>),
    Local,
}
