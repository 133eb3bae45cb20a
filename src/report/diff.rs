//! STUB (the modules branch brings the real one).
use crate::modules::FileDiff;
pub fn unified(d: &FileDiff) -> String {
    format!("{}\n", d.path)
}
