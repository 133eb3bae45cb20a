//! `mode`, `owner` and `group`: parsing them the way Ansible accepts them,
//! and deciding whether a file already has them.

use serde_json::Value;

use super::ModuleError;
use super::args::Args;
use super::remote_file::FileInfo;
use crate::ssh::shell_quote;

/// A requested mode: absolute, or symbolic relative to the current mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Octal(u32),
    /// `u+rwx,g-w,o=r`.
    Symbolic(String),
    /// `preserve` (copy): the source file's mode.
    Preserve,
}

impl Mode {
    /// A string is octal ("0644", "644") or symbolic ("u+rwx,g-w").
    ///
    /// Numbers: Ansible's YAML 1.1 reads an unquoted `0644` as octal (420)
    /// and uses it as is. Our YAML loader (1.2) reads it as the number 644,
    /// so a number written only with digits 0-7 is read as octal digits
    /// (`0644` and `644` both mean rw-r--r--, which is what people mean);
    /// a number with an 8 or 9 in it (493 = 0o755) is taken as the value.
    pub fn parse(value: &Value) -> Result<Mode, String> {
        match value {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(-1.0);
                if f < 0.0 || f.fract() != 0.0 {
                    return Err(format!("mode {n} is not a valid mode"));
                }
                let n = f as u64;
                let digits = n.to_string();
                let value = if digits.bytes().all(|b| b <= b'7') {
                    u64::from_str_radix(&digits, 8).map_err(|e| e.to_string())?
                } else {
                    n
                };
                if value > 0o7777 {
                    return Err(format!("mode {n} is out of range"));
                }
                Ok(Mode::Octal(value as u32))
            }
            Value::String(s) => {
                let s = s.trim();
                if s == "preserve" {
                    return Ok(Mode::Preserve);
                }
                if !s.is_empty() && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    let n = u32::from_str_radix(s, 8).map_err(|e| e.to_string())?;
                    if n > 0o7777 {
                        return Err(format!("mode {s} is out of range"));
                    }
                    return Ok(Mode::Octal(n));
                }
                // Validate now so a typo fails before anything runs.
                apply_symbolic(s, 0, false)?;
                Ok(Mode::Symbolic(s.to_string()))
            }
            other => Err(format!("mode must be a string or an integer, got {other}")),
        }
    }

    /// The permission bits to set, given the current ones (`None`: a new
    /// file, which starts from `base`).
    pub fn resolve(&self, current: Option<u32>, base: u32, is_dir: bool) -> Option<u32> {
        match self {
            Mode::Octal(m) => Some(*m),
            Mode::Symbolic(s) => apply_symbolic(s, current.unwrap_or(base), is_dir).ok(),
            Mode::Preserve => None,
        }
    }
}

/// Applies `chmod`-style symbolic clauses to `mode`.
pub fn apply_symbolic(spec: &str, mode: u32, is_dir: bool) -> Result<u32, String> {
    let bad = || format!("mode {spec:?} is neither octal nor symbolic (like u+rwx,g-w,o=r)");
    let mut mode = mode & 0o7777;
    for clause in spec.split(',') {
        let who_end = clause.find(|c: char| !"ugoa".contains(c)).ok_or_else(bad)?;
        let (who, mut rest) = clause.split_at(who_end);
        let mut mask = 0u32;
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                // The sticky bit goes with o (and a), as in chmod and Ansible.
                'o' => 0o1007,
                _ => 0o7777,
            };
        }
        if who.is_empty() {
            mask = 0o7777;
        }
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let op = rest.chars().next().ok_or_else(bad)?;
            if !"+-=".contains(op) {
                return Err(bad());
            }
            rest = &rest[1..];
            let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let (perms, next) = rest.split_at(end);
            rest = next;
            let mut bits = 0u32;
            for p in perms.chars() {
                bits |= match p {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return Err(bad()),
                };
            }
            let bits = bits & mask;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !mask) | bits,
            };
        }
    }
    Ok(mode)
}

/// `mode`/`owner`/`group` as a task asked for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    pub mode: Option<Mode>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl Attrs {
    /// Reads `mode`, `owner` and `group` from the arguments.
    pub fn from_args(args: &Args<'_>) -> Result<Attrs, ModuleError> {
        let mode = match args.value(&["mode"]) {
            None => None,
            Some((_, v)) => Some(Mode::parse(v).map_err(|e| args.error(e))?),
        };
        Ok(Attrs {
            mode,
            owner: args.str("owner")?,
            group: args.str("group")?,
        })
    }

    /// The shell commands that bring `path` (described by `info`) to these
    /// attributes; empty when it already has them.
    pub fn fix_commands(&self, path: &str, info: &FileInfo, recurse: bool) -> Vec<String> {
        let q = shell_quote(path);
        let r = if recurse { "-R " } else { "" };
        let mut commands = Vec::new();
        let owner_differs = self
            .owner
            .as_ref()
            .is_some_and(|o| *o != info.owner && *o != info.uid.to_string());
        let group_differs = self
            .group
            .as_ref()
            .is_some_and(|g| *g != info.group && *g != info.gid.to_string());
        if owner_differs || group_differs {
            let spec = match (owner_differs, group_differs) {
                (true, true) => format!(
                    "{}:{}",
                    self.owner.as_ref().unwrap(),
                    self.group.as_ref().unwrap()
                ),
                (true, false) => self.owner.clone().unwrap(),
                _ => format!(":{}", self.group.as_ref().unwrap()),
            };
            // -h: change a link itself, as Ansible does unless told to follow.
            commands.push(format!("chown {r}-h {} {q}", shell_quote(&spec)));
        }
        if let Some(mode) = &self.mode {
            let current = info.mode & 0o7777;
            if let Some(want) = mode.resolve(Some(current), current, info.is_dir())
                && want != current
                && !info.is_link()
            {
                commands.push(format!("chmod {r}{want:04o} {q}"));
            }
        }
        commands
    }
}

/// `0644`-style text of permission bits, as Ansible's file modules report
/// `mode` (`'0%03o'`: a leading 0 before the sticky, setuid and setgid
/// bits too, `01444`).
pub fn mode_string(mode: u32) -> String {
    format!("0{:03o}", mode & 0o7777)
}

/// The same bits as Ansible's `stat` reports them (`'%04o'`: `1444`).
pub fn stat_mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_in_every_spelling() {
        assert_eq!(Mode::parse(&json!("0644")).unwrap(), Mode::Octal(0o644));
        assert_eq!(Mode::parse(&json!("644")).unwrap(), Mode::Octal(0o644));
        assert_eq!(Mode::parse(&json!(644)).unwrap(), Mode::Octal(0o644));
        assert_eq!(Mode::parse(&json!(493)).unwrap(), Mode::Octal(0o755));
        assert_eq!(Mode::parse(&json!(755.0)).unwrap(), Mode::Octal(0o755));
        assert!(Mode::parse(&json!(-1)).is_err());
        assert!(Mode::parse(&json!("rwx")).is_err());
        assert!(Mode::parse(&json!("u+q")).is_err());
        let sym = Mode::parse(&json!("u+rwx,g-w,o=r")).unwrap();
        assert_eq!(sym.resolve(Some(0o666), 0, false), Some(0o744));
        assert_eq!(apply_symbolic("a+X", 0o644, true).unwrap(), 0o755);
        assert_eq!(apply_symbolic("a+X", 0o644, false).unwrap(), 0o644);
        assert_eq!(apply_symbolic("go=", 0o755, false).unwrap(), 0o700);
        assert_eq!(apply_symbolic("u=rw,g=r,o=r", 0, false).unwrap(), 0o644);
        assert_eq!(apply_symbolic("+x", 0o644, false).unwrap(), 0o755);
        // t is o's (the sticky bit), s is u's and g's, as in Ansible.
        assert_eq!(apply_symbolic("o+t", 0o444, false).unwrap(), 0o1444);
        assert_eq!(apply_symbolic("o-t", 0o1444, false).unwrap(), 0o444);
        assert_eq!(apply_symbolic("u+t,g+t", 0o444, false).unwrap(), 0o444);
        assert_eq!(apply_symbolic("g+s", 0o444, false).unwrap(), 0o2444);
        assert_eq!(apply_symbolic("u+s,o+s", 0o444, false).unwrap(), 0o4444);
        assert_eq!(mode_string(0o100644), "0644");
        assert_eq!(mode_string(0o101444), "01444");
        assert_eq!(stat_mode_string(0o101444), "1444");
    }
}

#[cfg(test)]
mod yaml_tests {
    use super::*;

    /// What our YAML loader makes of an unquoted `mode: 0644`, and that
    /// the mode comes out as Ansible's (YAML 1.1 octal) would.
    #[test]
    fn unquoted_yaml_octal_mode() {
        let v: serde_json::Value =
            crate::yaml::from_str("mode: 0644\n", std::path::Path::new("t.yml")).unwrap();
        assert_eq!(Mode::parse(&v["mode"]).unwrap(), Mode::Octal(0o644));
    }
}
