//! A play's `strategy`: how its hosts move through its tasks. Its own file
//! because the loader, herd.toml and ansible.cfg all read it, and the
//! settings files sit below the playbook layer.

/// How a play's hosts move through its tasks (`strategy:` in a play, or
/// the project's default: herd.toml's `strategy`, ansible.cfg's
/// `[defaults] strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Strategy {
    /// Every host of the batch finishes a task before any host starts the
    /// next (Ansible's default).
    #[default]
    Linear,
    /// Each host goes through the tasks at its own pace (`free`, and
    /// `host_pinned`, which herd's free already is: a host keeps its fork
    /// until it is done).
    Free,
}

impl Strategy {
    /// The strategies herd runs, for error messages.
    pub const NAMES: &str = "`linear` (the default), `free` and `host_pinned`";

    /// A strategy by Ansible's name.
    pub fn parse(name: &str) -> Option<Strategy> {
        match name {
            "linear" => Some(Strategy::Linear),
            "free" | "host_pinned" => Some(Strategy::Free),
            _ => None,
        }
    }
}

/// herd.toml's `strategy` and ansible.cfg's: the name, or what herd runs.
impl TryFrom<String> for Strategy {
    type Error = String;

    fn try_from(name: String) -> Result<Strategy, String> {
        Strategy::parse(&name)
            .ok_or_else(|| format!("herd runs {}, found `{name}`", Strategy::NAMES))
    }
}
