//! Ansible-compatible inventory (placeholder API; being built).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}: inventory support is being built")]
    NotYet(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

#[derive(Debug, Default)]
pub struct Inventory {}

impl Inventory {
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        Err(InventoryError::NotYet(sources[0].clone()))
    }
}
