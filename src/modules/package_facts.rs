//! `package_facts`: the installed packages as `ansible_facts.packages`
//! (name -> list of {name, version, arch, category, origin, source}), read
//! from dpkg's database with one `dpkg-query` in one round trip. Debian and
//! Ubuntu only: Ansible's other managers (rpm, apk, pacman...) are an error
//! for the host that asks for them.

use serde_json::{Map, Value, json};

use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// package_facts, as a task writes it.
pub const MODULE: Module = Module {
    name: "package_facts",
    params: &[p("manager"), p("strategy")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// The managers Ansible knows (with its aliases); herd reads only apt's.
const KNOWN: &[&str] = &[
    "apt",
    "rpm",
    "dnf",
    "dnf5",
    "yum",
    "zypper",
    "portage",
    "pkg",
    "pkg5",
    "pkgng",
    "pacman",
    "apk",
    "pkg_info",
    "openbsd_pkg",
];

const NO_DPKG: &str = "herd-no-dpkg-query";

/// The native architecture, then one tab-separated line per package that
/// has a version installed (apt's `is_installed`: not `not-installed` nor
/// `config-files`).
const QUERY: &str = r#"command -v dpkg-query >/dev/null 2>&1 || { echo herd-no-dpkg-query; exit 0; }
dpkg --print-architecture 2>/dev/null || echo
dpkg-query -W -f='${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\t${Section}\n'"#;

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let managers: Vec<String> = args
        .list("manager")?
        .unwrap_or_else(|| vec!["auto".into()])
        .iter()
        .map(|m| m.to_lowercase())
        .collect();
    args.choice("strategy", &["first", "all"], Some("first"))?;
    let unsupported: Vec<&str> = managers
        .iter()
        .map(String::as_str)
        .filter(|m| *m != "auto" && !KNOWN.contains(m))
        .collect();
    if !unsupported.is_empty() {
        return Ok(ModuleOutput::failed(format!(
            "Unsupported package managers requested: {}",
            unsupported.join(", ")
        )));
    }
    if !managers.iter().any(|m| m == "auto" || m == "apt") {
        return Ok(ModuleOutput::failed(format!(
            "package_facts: herd reads apt's (dpkg's) packages only, not {} (Debian and Ubuntu hosts)",
            managers.join(", ")
        )));
    }
    let out = ctx.transport.exec(QUERY, &ctx.exec).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.trim() == NO_DPKG {
        return Ok(ModuleOutput::failed(format!(
            "Could not detect a supported package manager from the following list: {managers:?}, \
             or the required Python library is not installed. Check warnings for details. \
             (herd reads dpkg's database: {} has no dpkg-query)",
            ctx.host
        )));
    }
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "Failed to retrieve packages with apt: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut facts = Vars::new();
    facts.insert("packages".into(), Value::Object(parse(&stdout)));
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), Value::Object(facts));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

/// Packages by name, as python-apt names them: a package of a foreign
/// architecture is `name:arch`.
fn parse(text: &str) -> Map<String, Value> {
    let mut lines = text.lines();
    let native = lines.next().unwrap_or("").trim().to_string();
    let mut packages = Map::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [status, name, version, arch, section] = f[..] else {
            continue;
        };
        if matches!(status, "not-installed" | "config-files" | "") || name.is_empty() {
            continue;
        }
        let name = if arch == native || arch == "all" || native.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        };
        let entry = json!({
            "name": name,
            "version": version,
            "arch": arch,
            "category": section,
            "origin": "",
            "source": "apt",
        });
        match packages.get_mut(&name) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                packages.insert(name, json!([entry]));
            }
        }
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_query() {
        let text = "amd64\n\
            installed\tbash\t5.2.15-2+b2\tamd64\tshells\n\
            config-files\told\t1.0\tamd64\tutils\n\
            not-installed\tghost\t\tamd64\t\n\
            installed\tlibc6\t2.36-9\ti386\tlibs\n\
            half-configured\ttzdata\t2024a-0\tall\tlocalization\n";
        let p = parse(text);
        assert_eq!(
            p["bash"],
            json!([{"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64",
                    "category": "shells", "origin": "", "source": "apt"}])
        );
        assert!(p.get("old").is_none() && p.get("ghost").is_none());
        assert_eq!(p["libc6:i386"][0]["arch"], "i386");
        assert_eq!(p["tzdata"][0]["version"], "2024a-0");
    }
}
