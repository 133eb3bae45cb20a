//! Keywords an enclosing block, import or role passes down to the tasks in
//! it. Ansible resolves these through a parent chain at run time; herd
//! flattens them at load time so each Task carries its effective values.

use super::model::{Task, Vars};

/// What a block, `import_tasks`, role entry or play gives its tasks.
///
/// Conditions are ANDed, outer first; tags, notify, environment and vars
/// accumulate (inner values win); the others are defaults an inner level
/// may override.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inherited {
    pub when: Vec<String>,
    pub tags: Vec<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `sudo` or `su`.
    pub become_method: Option<String>,
    pub environment: Vars,
    pub ignore_errors: Option<String>,
    pub run_once: Option<bool>,
    pub delegate_to: Option<String>,
    pub delegate_facts: Option<bool>,
    /// `true`/`false` or a template (see `Task::no_log`).
    pub no_log: Option<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub vars: Vars,
    /// The item variables of an `include_tasks` loop (data, see
    /// `engine::vars`).
    pub include_items: Vars,
    pub notify: Vec<String>,
}

impl Inherited {
    /// `inner` (a nested level's own keywords) on top of `self`.
    pub fn with(&self, inner: &Inherited) -> Inherited {
        let mut environment = self.environment.clone();
        environment.extend(inner.environment.clone());
        let mut vars = self.vars.clone();
        vars.extend(inner.vars.clone());
        let mut include_items = self.include_items.clone();
        include_items.extend(inner.include_items.clone());
        Inherited {
            when: concat(&self.when, &inner.when),
            tags: union(&self.tags, &inner.tags),
            become_: inner.become_.or(self.become_),
            become_user: inner.become_user.clone().or(self.become_user.clone()),
            become_method: inner.become_method.clone().or(self.become_method.clone()),
            environment,
            ignore_errors: inner.ignore_errors.clone().or(self.ignore_errors.clone()),
            run_once: inner.run_once.or(self.run_once),
            delegate_to: inner.delegate_to.clone().or(self.delegate_to.clone()),
            delegate_facts: inner.delegate_facts.or(self.delegate_facts),
            no_log: inner.no_log.clone().or(self.no_log.clone()),
            check_mode: inner.check_mode.or(self.check_mode),
            diff: inner.diff.or(self.diff),
            vars,
            include_items,
            notify: union(&self.notify, &inner.notify),
        }
    }

    /// What an `include_tasks` passes to the tasks it loads at run time.
    ///
    /// As in Ansible, the include's own `when` and `tags` apply to the
    /// include only (the engine has evaluated them already), but its role's
    /// tags apply to the included tasks too; privilege,
    /// environment, vars and the error/log settings carry on.
    pub fn for_include(task: &Task) -> Inherited {
        Inherited {
            when: Vec::new(),
            tags: task
                .role
                .as_ref()
                .map(|r| r.tags.clone())
                .unwrap_or_default(),
            become_: task.become_,
            become_user: task.become_user.clone(),
            become_method: task.become_method.clone(),
            environment: task.environment.clone(),
            ignore_errors: task.ignore_errors.clone(),
            run_once: Some(task.run_once).filter(|r| *r),
            delegate_to: task.delegate_to.clone(),
            delegate_facts: Some(task.delegate_facts).filter(|d| *d),
            no_log: task.no_log.clone(),
            check_mode: task.check_mode,
            diff: task.diff,
            vars: task.vars.clone(),
            include_items: task.include_items.clone(),
            notify: Vec::new(),
        }
    }
}

fn concat(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().chain(b).cloned().collect()
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for item in b {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_levels_add_conditions_and_override_defaults() {
        let outer = Inherited {
            when: vec!["a".into()],
            tags: vec!["web".into()],
            become_: Some(true),
            become_user: Some("root".into()),
            ..Inherited::default()
        };
        let inner = Inherited {
            when: vec!["b".into()],
            tags: vec!["web".into(), "conf".into()],
            become_user: Some("app".into()),
            ..Inherited::default()
        };
        let both = outer.with(&inner);
        assert_eq!(both.when, ["a", "b"]);
        assert_eq!(both.tags, ["web", "conf"]);
        assert_eq!(both.become_, Some(true));
        assert_eq!(both.become_user.as_deref(), Some("app"));
    }
}
