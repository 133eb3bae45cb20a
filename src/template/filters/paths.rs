//! POSIX path filters with Python `os.path` semantics (paths on managed
//! hosts are POSIX). Filters that would look at the controller's file system
//! (`realpath`, `fileglob`) are left out on purpose: they are easy to
//! mistake for facts about the remote host. `expanduser` is kept because
//! playbooks use it on absolute paths, where it changes nothing; like
//! Ansible's, it expands `~` with the controller's home.

use minijinja::{Environment, Error, Value};

use crate::template::value::{as_text, invalid};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("splitext", splitext);
    env.add_filter("path_join", path_join);
    env.add_filter("expanduser", expanduser);
}

/// `~` or `~/x` with the controller's `$HOME`; other paths unchanged.
pub fn expanduser(path: &Value) -> Result<String, Error> {
    let path = as_text(path)?;
    let home = std::env::var("HOME").unwrap_or_default();
    Ok(match path.strip_prefix('~') {
        Some(rest) if (rest.is_empty() || rest.starts_with('/')) && !home.is_empty() => {
            format!("{home}{rest}")
        }
        _ => path.to_string(),
    })
}

/// `'/etc/asdf/foo.txt' | basename` is `foo.txt`; a trailing `/` gives "".
pub fn basename(path: &Value) -> Result<String, Error> {
    let path = as_text(path)?;
    Ok(path.rsplit('/').next().unwrap_or_default().to_string())
}

/// `'/etc/asdf/foo.txt' | dirname` is `/etc/asdf`; `'/foo'` gives `/`.
pub fn dirname(path: &Value) -> Result<String, Error> {
    let path = as_text(path)?;
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => return Ok(String::new()),
    };
    let trimmed = head.trim_end_matches('/');
    Ok(if trimmed.is_empty() { head } else { trimmed }.to_string())
}

/// `'nginx.conf.j2' | splitext` is `['nginx.conf', '.j2']`; leading dots
/// of the file name do not start an extension (`.bashrc` has none).
pub fn splitext(path: &Value) -> Result<Vec<String>, Error> {
    let path = as_text(path)?;
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let name = &path[name_start..];
    let leading_dots = name.len() - name.trim_start_matches('.').len();
    match name[leading_dots..].rfind('.') {
        Some(dot) => {
            let split = name_start + leading_dots + dot;
            Ok(vec![path[..split].to_string(), path[split..].to_string()])
        }
        None => Ok(vec![path.clone(), String::new()]),
    }
}

/// `['/etc', 'nginx', 'nginx.conf'] | path_join`; an absolute part restarts
/// the path, as with `os.path.join`.
pub fn path_join(parts: &Value) -> Result<String, Error> {
    if parts.as_str().is_some() {
        return as_text(parts);
    }
    let mut out = String::new();
    for part in parts
        .try_iter()
        .map_err(|_| invalid("path_join expects a string or a list"))?
    {
        let part = as_text(&part)?;
        if part.starts_with('/') || out.is_empty() {
            out = part;
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(&part);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::template::filters::render;
    use serde_json::json;

    #[test]
    fn basename_and_dirname_like_os_path() {
        // Ansible docs: '/etc/asdf/foo.txt' | basename -> foo.txt; | dirname -> /etc/asdf
        assert_eq!(
            render("{{ '/etc/asdf/foo.txt' | basename }}", json!({})),
            "foo.txt"
        );
        assert_eq!(
            render("{{ '/etc/asdf/foo.txt' | dirname }}", json!({})),
            "/etc/asdf"
        );
        assert_eq!(
            render(
                "[{{ '/etc/' | basename }}] {{ '/foo' | dirname }} [{{ 'foo' | dirname }}]",
                json!({})
            ),
            "[] / []"
        );
    }

    #[test]
    fn splitext_keeps_leading_dots() {
        // Ansible docs: '/etc/my.conf' | splitext -> ('/etc/my', '.conf'); 'nginx.conf' -> ('nginx', '.conf')
        assert_eq!(
            render("{{ '/etc/my.conf' | splitext }}", json!({})),
            "['/etc/my', '.conf']"
        );
        assert_eq!(
            render("{{ 'nginx.conf' | splitext | first }}", json!({})),
            "nginx"
        );
        assert_eq!(
            render("{{ '/home/u/.bashrc' | splitext }}", json!({})),
            "['/home/u/.bashrc', '']"
        );
        assert_eq!(
            render("{{ 'a.d/file' | splitext }}", json!({})),
            "['a.d/file', '']"
        );
    }

    #[test]
    fn path_join_restarts_at_absolute_parts() {
        // Ansible docs: ('/etc', 'subdir', 'test') | path_join -> /etc/subdir/test
        assert_eq!(
            render("{{ ['/etc', 'subdir', 'test'] | path_join }}", json!({})),
            "/etc/subdir/test"
        );
        assert_eq!(
            render("{{ ['a/', 'b', '/abs', 'c'] | path_join }}", json!({})),
            "/abs/c"
        );
    }
}
