//! `herd inventory graph`'s output: the group tree drawn as
//! `ansible-inventory --graph` draws it.

use crate::inventory::GroupTree;

/// The tree under `tree`'s group, one line per group and host.
pub fn graph(tree: &GroupTree) -> String {
    let mut out = String::new();
    render_tree(tree, 0, &mut out);
    out
}

/// `@all:` then `  |--@web:` then `  |  |--web1`, as ansible-inventory.
fn render_tree(tree: &GroupTree, depth: usize, out: &mut String) {
    let indent = |depth: usize| {
        if depth == 0 {
            String::new()
        } else {
            "  |".repeat(depth) + "--"
        }
    };
    out.push_str(&format!("{}@{}:\n", indent(depth), tree.name));
    for child in &tree.children {
        render_tree(child, depth + 1, out);
    }
    for host in &tree.hosts {
        out.push_str(&format!("{}{host}\n", indent(depth + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_renders_like_ansible_inventory() {
        let tree = GroupTree {
            name: "all".into(),
            children: vec![GroupTree {
                name: "web".into(),
                children: vec![],
                hosts: vec!["w1".into()],
            }],
            hosts: vec![],
        };
        assert_eq!(graph(&tree), "@all:\n  |--@web:\n  |  |--w1\n");
    }
}
