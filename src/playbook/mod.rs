//! STUB for engine development; replaced by the real loader at merge.
pub mod model;
pub use model::*;

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlaybookError(pub String);

#[derive(Debug, Clone, Default)]
pub struct Inherited {}
impl Inherited {
    pub fn from_task(_t: &Task) -> Inherited {
        Inherited {}
    }
}

pub fn load_playbook(_path: &Path) -> Result<Playbook, PlaybookError> {
    Err(PlaybookError("stub".into()))
}

pub fn load_tasks_file(_path: &Path, _role: Option<Arc<Role>>, _inherited: &Inherited) -> Result<Vec<Task>, PlaybookError> {
    Err(PlaybookError("stub".into()))
}

pub fn parse_extra_vars(_arg: &str, _cwd: &Path) -> Result<Vars, PlaybookError> {
    Err(PlaybookError("stub".into()))
}
