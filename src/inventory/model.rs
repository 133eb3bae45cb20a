//! The host/group graph while sources are being read (`Graph`), and its
//! finished, query-ready form (`Finished`): implicit `all`/`ungrouped`
//! applied, cycles rejected, and each host's groups precomputed in
//! precedence order so lookups never walk the graph again.

use std::collections::{BTreeSet, HashMap};

use indexmap::{IndexMap, IndexSet};

use super::{InventoryError, Vars};

/// Index of the implicit `all` group (every host is in it).
pub(crate) const ALL: usize = 0;
/// Index of the implicit `ungrouped` group (hosts in no other group).
pub(crate) const UNGROUPED: usize = 1;

/// A group as sources describe it: direct hosts and links only.
#[derive(Debug, Default)]
pub(crate) struct GroupEntry {
    pub vars: Vars,
    pub hosts: IndexSet<usize>,
    pub children: IndexSet<usize>,
    pub parents: IndexSet<usize>,
}

/// Hosts and groups in the order sources first mention them; every loader
/// adds to the same graph, which is how several `-i` sources merge.
#[derive(Debug)]
pub(crate) struct Graph {
    pub hosts: IndexMap<String, Vars>,
    pub groups: IndexMap<String, GroupEntry>,
    pub data: DataVars,
}

/// The variables an inventory script set, per host and per group: data,
/// never rendered as templates (see `template::scope`).
#[derive(Debug, Default, Clone)]
pub(crate) struct DataVars {
    pub hosts: HashMap<usize, BTreeSet<String>>,
    pub groups: HashMap<usize, BTreeSet<String>>,
}

/// Every host's and group's variables, to see afterwards what a script set.
pub(crate) struct Snapshot {
    hosts: Vec<Vars>,
    groups: Vec<Vars>,
}

impl Graph {
    pub fn new() -> Graph {
        let mut graph = Graph {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            data: DataVars::default(),
        };
        graph.group("all");
        graph.group("ungrouped");
        graph
    }

    /// The group's index, creating it on first mention.
    pub fn group(&mut self, name: &str) -> usize {
        match self.groups.get_index_of(name) {
            Some(i) => i,
            None => {
                self.groups
                    .insert_full(name.to_string(), GroupEntry::default())
                    .0
            }
        }
    }

    /// The host's index, creating it on first mention.
    pub fn host(&mut self, name: &str) -> usize {
        match self.hosts.get_index_of(name) {
            Some(i) => i,
            None => self.hosts.insert_full(name.to_string(), Vars::new()).0,
        }
    }

    /// Membership in `all` is implicit, so it is not recorded (a host listed
    /// only under `all:` is ungrouped, as in Ansible).
    pub fn add_host_to_group(&mut self, group: usize, host: usize) {
        if group != ALL {
            self.groups[group].hosts.insert(host);
        }
    }

    pub fn add_child(&mut self, parent: usize, child: usize) {
        self.groups[parent].children.insert(child);
        self.groups[child].parents.insert(parent);
    }

    pub fn group_vars_mut(&mut self, group: usize) -> &mut Vars {
        &mut self.groups[group].vars
    }

    pub fn host_vars_mut(&mut self, host: usize) -> &mut Vars {
        &mut self.hosts[host]
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            hosts: self.hosts.values().cloned().collect(),
            groups: self.groups.values().map(|g| g.vars.clone()).collect(),
        }
    }

    /// Marks as data every variable that is new or different since `before`
    /// (what an inventory script just set).
    pub fn mark_data_since(&mut self, before: &Snapshot) {
        fn changed(before: Option<&Vars>, now: &Vars) -> impl Iterator<Item = String> {
            now.iter()
                .filter(move |(k, v)| before.and_then(|b| b.get(*k)) != Some(*v))
                .map(|(k, _)| k.clone())
        }
        for (h, vars) in self.hosts.values().enumerate() {
            let names = changed(before.hosts.get(h), vars);
            self.data.hosts.entry(h).or_default().extend(names);
        }
        for (g, group) in self.groups.values().enumerate() {
            let names = changed(before.groups.get(g), &group.vars);
            self.data.groups.entry(g).or_default().extend(names);
        }
    }

    /// Applies the implicit groups, rejects cycles and precomputes lookups.
    pub fn finish(mut self) -> Result<Finished, InventoryError> {
        for g in 1..self.groups.len() {
            if self.groups[g].parents.is_empty() {
                self.add_child(ALL, g);
            }
        }
        if let Some(cycle) = find_cycle(&self.groups) {
            let names: Vec<&str> = cycle.iter().map(|&g| self.group_name(g)).collect();
            return Err(InventoryError::Cycle {
                cycle: names.join(" -> "),
            });
        }

        let mut direct: Vec<Vec<usize>> = vec![Vec::new(); self.hosts.len()];
        for (g, group) in self.groups.values().enumerate().skip(UNGROUPED + 1) {
            for &h in &group.hosts {
                direct[h].push(g);
            }
        }
        let ungrouped: IndexSet<usize> = (0..self.hosts.len())
            .filter(|&h| direct[h].is_empty())
            .collect();
        for &h in &ungrouped {
            direct[h].push(UNGROUPED);
        }
        self.groups[UNGROUPED].hosts = ungrouped;

        let depth = depths(&self.groups);
        let priority: Vec<i64> = self
            .groups
            .values()
            .map(|g| group_priority(&g.vars))
            .collect();
        let ancestors = ancestors(&self.groups);

        let sort_key = |g: &usize| {
            (
                depth[*g],
                priority[*g],
                self.groups.get_index(*g).map(|(n, _)| n.as_str()),
            )
        };
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        let mut host_groups = Vec::with_capacity(self.hosts.len());
        for (h, direct) in direct.iter().enumerate() {
            let mut groups: Vec<usize> = direct
                .iter()
                .flat_map(|&g| ancestors[g].iter().copied())
                .collect();
            groups.sort_unstable();
            groups.dedup();
            groups.sort_by_key(sort_key);
            for &g in &groups {
                members[g].push(h);
            }
            host_groups.push(groups);
        }

        let groups = self
            .groups
            .into_iter()
            .zip(members)
            .map(|((name, entry), members)| {
                let group = Group {
                    vars: entry.vars,
                    children: entry.children.into_iter().collect(),
                    hosts: entry.hosts.into_iter().collect(),
                    members,
                };
                (name, group)
            })
            .collect();
        Ok(Finished {
            hosts: self.hosts,
            groups,
            host_groups,
            data: self.data,
        })
    }

    fn group_name(&self, g: usize) -> &str {
        self.groups.get_index(g).map_or("?", |(n, _)| n.as_str())
    }
}

/// A finished group, as queries need it.
#[derive(Debug)]
pub(crate) struct Group {
    /// Variables from the inventory source itself (not group_vars/).
    pub vars: Vars,
    pub children: Vec<usize>,
    /// Hosts listed directly in this group.
    pub hosts: Vec<usize>,
    /// Hosts in this group or any descendant, in inventory order.
    pub members: Vec<usize>,
}

/// The finished graph.
#[derive(Debug)]
pub(crate) struct Finished {
    pub hosts: IndexMap<String, Vars>,
    pub groups: IndexMap<String, Group>,
    /// Per host: every group it is in (with ancestors and `all`), sorted by
    /// depth, then `ansible_group_priority`, then name: the merge order.
    pub host_groups: Vec<Vec<usize>>,
    pub data: DataVars,
}

/// Ansible's `ansible_group_priority` (default 1): among groups at the same
/// depth, a higher priority is merged later and so wins.
fn group_priority(vars: &Vars) -> i64 {
    match vars.get("ansible_group_priority") {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(1),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(1),
        _ => 1,
    }
}

/// A path `a -> b -> a` if the children links loop.
fn find_cycle(groups: &IndexMap<String, GroupEntry>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    fn visit(
        g: usize,
        groups: &IndexMap<String, GroupEntry>,
        state: &mut [State],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[g] = State::OnPath;
        path.push(g);
        for &child in &groups[g].children {
            match state[child] {
                State::OnPath => {
                    let start = path.iter().position(|&p| p == child).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(child);
                    return Some(cycle);
                }
                State::New => {
                    if let Some(cycle) = visit(child, groups, state, path) {
                        return Some(cycle);
                    }
                }
                State::Done => {}
            }
        }
        path.pop();
        state[g] = State::Done;
        None
    }
    let mut state = vec![State::New; groups.len()];
    let mut path = Vec::new();
    (0..groups.len()).find_map(|g| {
        if state[g] == State::New {
            visit(g, groups, &mut state, &mut path)
        } else {
            None
        }
    })
}

/// Longest path from `all` for every group (the graph has no cycles here).
fn depths(groups: &IndexMap<String, GroupEntry>) -> Vec<usize> {
    fn depth(g: usize, groups: &IndexMap<String, GroupEntry>, memo: &mut [Option<usize>]) -> usize {
        if let Some(d) = memo[g] {
            return d;
        }
        let d = groups[g]
            .parents
            .iter()
            .map(|&p| depth(p, groups, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[g] = Some(d);
        d
    }
    let mut memo = vec![None; groups.len()];
    (0..groups.len())
        .map(|g| depth(g, groups, &mut memo))
        .collect()
}

/// Each group with all its ancestors (itself included).
fn ancestors(groups: &IndexMap<String, GroupEntry>) -> Vec<Vec<usize>> {
    fn walk(
        g: usize,
        groups: &IndexMap<String, GroupEntry>,
        memo: &mut Vec<Option<Vec<usize>>>,
    ) -> Vec<usize> {
        if let Some(known) = &memo[g] {
            return known.clone();
        }
        let mut found = vec![g];
        for &p in &groups[g].parents {
            found.extend(walk(p, groups, memo));
        }
        found.sort_unstable();
        found.dedup();
        memo[g] = Some(found.clone());
        found
    }
    let mut memo = vec![None; groups.len()];
    (0..groups.len())
        .map(|g| walk(g, groups, &mut memo))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_named() {
        let mut graph = Graph::new();
        let (a, b, c) = (graph.group("a"), graph.group("b"), graph.group("c"));
        graph.add_child(ALL, a);
        graph.add_child(a, b);
        graph.add_child(b, c);
        graph.add_child(c, a);
        let err = graph.finish().unwrap_err().to_string();
        assert!(err.contains("a -> b -> c -> a"), "{err}");
    }

    #[test]
    fn hosts_without_groups_are_ungrouped_and_groups_sort_by_depth() {
        let mut graph = Graph::new();
        let (web, prod) = (graph.group("web"), graph.group("prod"));
        graph.add_child(prod, web);
        let (h1, h2) = (graph.host("h1"), graph.host("h2"));
        graph.add_host_to_group(web, h1);
        graph.add_host_to_group(ALL, h2);
        let done = graph.finish().unwrap();
        let names = |h: usize| -> Vec<&str> {
            done.host_groups[h]
                .iter()
                .map(|&g| done.groups.get_index(g).unwrap().0.as_str())
                .collect()
        };
        assert_eq!(names(h1), ["all", "prod", "web"]);
        assert_eq!(names(h2), ["all", "ungrouped"]);
        assert_eq!(done.groups["prod"].members, [h1]);
    }
}
