//! Walking a loaded playbook in run order, for `--list-tasks`,
//! `--list-tags` and `--syntax-check` output.

use super::model::{Action, Play, Playbook, SectionKind, Task};

/// One task in run order, with the play and section it is in. Block
/// children follow their block, one level deeper.
#[derive(Debug, Clone, Copy)]
pub struct TaskEntry<'a> {
    pub play: &'a Play,
    pub section: SectionKind,
    pub task: &'a Task,
    /// 0 for tasks of a section, +1 inside each block.
    pub depth: usize,
}

impl Playbook {
    /// Every task of every play in run order (handlers excluded).
    pub fn tasks(&self) -> Vec<TaskEntry<'_>> {
        let mut out = Vec::new();
        for play in &self.plays {
            for section in &play.sections {
                for task in &section.tasks {
                    walk(play, section.kind, task, 0, &mut out);
                }
            }
        }
        out
    }

    /// Every tag used, sorted, for `--list-tags`.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .tasks()
            .iter()
            .flat_map(|e| e.task.tags.iter().cloned())
            .chain(self.plays.iter().flat_map(|p| p.tags.iter().cloned()))
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }
}

fn walk<'a>(
    play: &'a Play,
    section: SectionKind,
    task: &'a Task,
    depth: usize,
    out: &mut Vec<TaskEntry<'a>>,
) {
    out.push(TaskEntry {
        play,
        section,
        task,
        depth,
    });
    if let Action::Block {
        block,
        rescue,
        always,
    } = &task.action
    {
        for child in block.iter().chain(rescue).chain(always) {
            walk(play, section, child, depth + 1, out);
        }
    }
}
