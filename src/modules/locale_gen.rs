//! `locale_gen` (community.general.locale_gen): locales compiled on a
//! Debian/Ubuntu host (glibc's `/etc/locale.gen` + `locale-gen`).
//!
//! One round trip asks `locale -a` which locales the host has and looks
//! the names up in glibc's list of supported locales; another reads
//! `/etc/locale.gen`. A locale to add has its line uncommented (or
//! appended from the supported list), one to remove has it commented out;
//! the file is written atomically and `locale-gen` rebuilds the archive.
//! A name the host cannot build is a failure before anything changes.

use regex::Regex;
use serde_json::json;

use super::args::Args;
use super::edit::{self, Edit, split_lines_keep, strip_eol};
use super::owner_group_mode::Attrs;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// locale_gen, as a task writes it (`community.general.locale_gen`).
pub const MODULE: Module = Module {
    name: "locale_gen",
    aliases: &["community.general.locale_gen"],
    params: &[p("name"), p("state")],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const LOCALE_GEN: &str = "/etc/locale.gen";
const SUPPORTED: &[&str] = &[
    "/usr/share/i18n/SUPPORTED",
    "/usr/local/share/i18n/SUPPORTED",
];

#[derive(Debug)]
struct Params {
    names: Vec<String>,
    present: bool,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    // A string with commas is a list, as Ansible's type='list' reads it.
    let names: Vec<String> = args
        .list("name")?
        .ok_or_else(|| args.error("missing required argument: name"))?
        .iter()
        .flat_map(|n| n.split(','))
        .map(|n| n.trim().to_string())
        .collect();
    if let Some(bad) = names
        .iter()
        .find(|n| n.is_empty() || n.chars().any(char::is_whitespace))
    {
        return Err(args.error(format!(
            "name {bad:?} is not a locale name: give one like en_US.UTF-8"
        )));
    }
    let present = args
        .choice("state", &["absent", "present"], Some("present"))?
        .as_deref()
        == Some("present");
    Ok(Params { names, present })
}

/// `locale -a` may say `en_US.utf8` for `en_US.UTF-8`: both are written
/// the one way before they are compared.
fn fix_case(name: &str) -> String {
    const NORMAL: &[(&str, &str)] = &[
        (".utf8", ".UTF-8"),
        (".eucjp", ".EUC-JP"),
        (".iso885915", ".ISO-8859-15"),
        (".cp1251", ".CP1251"),
        (".koi8r", ".KOI8-R"),
        (".armscii8", ".ARMSCII-8"),
        (".euckr", ".EUC-KR"),
        (".gbk", ".GBK"),
        (".gb18030", ".GB18030"),
        (".euctw", ".EUC-TW"),
    ];
    NORMAL
        .iter()
        .fold(name.to_string(), |n, (from, to)| n.replace(from, to))
}

/// A `locale charset` line of a SUPPORTED list (possibly commented out):
/// its locale and charset.
fn supported_entry(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    let t = t.strip_prefix('#').unwrap_or(t).trim_start();
    let mut words = t.split(' ');
    let (locale, charset) = (words.next()?, words.next()?);
    let rest_blank = words.all(|w| w.trim().is_empty());
    (!locale.is_empty() && !charset.trim().is_empty() && rest_blank)
        .then_some((locale, charset.trim()))
}

/// What the probe saw.
#[derive(Debug, Default)]
struct Probe {
    /// `/etc/locale.gen` exists.
    has_locale_gen: bool,
    /// `locale -a`.
    installed: Vec<String>,
    /// SUPPORTED lines that mention one of the names.
    supported: Vec<String>,
}

fn probe_script(names: &[String]) -> String {
    let mut s = format!(
        "export LC_ALL=C; [ -f {LOCALE_GEN} ] && echo has-locale-gen; \
         locale -a 2>/dev/null | sed 's/^/installed:/'; "
    );
    for name in names {
        for file in SUPPORTED {
            s.push_str(&format!(
                "[ -f {file} ] && grep -F -- {} {file} | sed 's/^/supported:/'; ",
                shell_quote(name)
            ));
        }
    }
    s.push_str("true");
    s
}

fn parse_probe(stdout: &str) -> Probe {
    let mut p = Probe::default();
    for line in stdout.lines() {
        if line == "has-locale-gen" {
            p.has_locale_gen = true;
        } else if let Some(l) = line.strip_prefix("installed:") {
            p.installed.push(l.to_string());
        } else if let Some(l) = line.strip_prefix("supported:") {
            p.supported.push(l.to_string());
        }
    }
    p
}

impl Probe {
    fn is_installed(&self, name: &str) -> bool {
        let name = fix_case(name);
        self.installed.iter().any(|l| fix_case(l) == name)
    }

    /// The charset glibc builds `name` with, if it supports it.
    fn charset(&self, name: &str) -> Option<&str> {
        self.supported
            .iter()
            .filter_map(|l| supported_entry(l))
            .find(|(locale, _)| *locale == name)
            .map(|(_, charset)| charset)
    }
}

/// /etc/locale.gen with the names' lines enabled or commented out (and
/// missing ones to enable appended with their charset).
fn edit_locale_gen(text: &str, names: &[String], enable: bool, probe: &Probe) -> String {
    let patterns: Vec<(String, Regex)> = names
        .iter()
        .map(|n| {
            let re = Regex::new(&format!(r"^#?\s*{} (?P<charset>.+)", regex::escape(n)))
                .expect("an escaped name makes a valid regex");
            (n.clone(), re)
        })
        .collect();
    let mut matched = vec![false; names.len()];
    let mut out = String::with_capacity(text.len());
    for line in split_lines_keep(text) {
        let body = strip_eol(&line);
        let eol = &line[body.len()..];
        let mut body = body.to_string();
        for (i, (name, re)) in patterns.iter().enumerate() {
            if let Some(c) = re.captures(&body) {
                matched[i] = true;
                let charset = &c["charset"];
                body = if enable {
                    format!("{name} {charset}")
                } else {
                    format!("# {name} {charset}")
                };
            }
        }
        out.push_str(&body);
        out.push_str(eol);
    }
    if enable {
        for (i, name) in names.iter().enumerate() {
            if let (false, Some(charset)) = (matched[i], probe.charset(name)) {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("{name} {charset}\n"));
            }
        }
    }
    out
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    let out = ctx
        .transport
        .exec(&probe_script(&p.names), &ctx.exec)
        .await?;
    let probe = parse_probe(&String::from_utf8_lossy(&out.stdout));
    if !probe.has_locale_gen {
        return Ok(ModuleOutput::failed(format!(
            "{LOCALE_GEN} is missing. Is the package \"locales\" installed?"
        )));
    }
    let unknown: Vec<&str> = p
        .names
        .iter()
        .filter(|n| probe.charset(n).is_none() && !probe.is_installed(n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Ok(ModuleOutput::failed(format!(
            "The following locales you have entered are not available on your system: {}",
            unknown.join(", ")
        )));
    }
    let to_change: Vec<String> = p
        .names
        .iter()
        .filter(|n| probe.is_installed(n) != p.present)
        .cloned()
        .collect();
    let mut result = ModuleOutput::default();
    if !to_change.is_empty() {
        let info = edit::read(ctx, LOCALE_GEN).await?;
        let before = info.content.as_deref().unwrap_or_default();
        let text = edit_locale_gen(&edit::decode_exact(before), &to_change, p.present, &probe);
        let after = edit::encode_exact(&text);
        result = edit::finish(
            ctx,
            Edit {
                path: LOCALE_GEN,
                info: &info,
                before,
                after: (after != before).then_some(after),
                msg: String::new(),
                attrs: &Attrs::default(),
                backup: false,
                validate: None,
            },
        )
        .await?;
        result.data.remove("msg");
        result.data.remove("backup");
        result.msg = None;
        result.changed = true;
        if !ctx.check_mode {
            let gen_out = ctx
                .transport
                .exec("LC_ALL=C locale-gen && LC_ALL=C locale -a", &ctx.exec)
                .await?;
            if !gen_out.success() {
                let mut failed = ModuleOutput::failed(format!(
                    "locale-gen failed (rc={}): {}",
                    gen_out.exit_code.unwrap_or(-1),
                    String::from_utf8_lossy(&gen_out.stderr).trim()
                ));
                failed.changed = true;
                return Ok(failed);
            }
            let after = Probe {
                installed: String::from_utf8_lossy(&gen_out.stdout)
                    .lines()
                    .map(String::from)
                    .collect(),
                ..Probe::default()
            };
            let wrong: Vec<&str> = to_change
                .iter()
                .filter(|n| after.is_installed(n) != p.present)
                .map(String::as_str)
                .collect();
            if !wrong.is_empty() {
                let mut failed = ModuleOutput::failed(format!(
                    "locale-gen ran but these locales are still {}: {}",
                    if p.present { "missing" } else { "installed" },
                    wrong.join(", ")
                ));
                failed.changed = true;
                return Ok(failed);
            }
        }
    }
    result.data.insert("name".into(), json!(p.names));
    result.data.insert("mechanism".into(), json!("glibc"));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(supported: &[&str]) -> Probe {
        Probe {
            has_locale_gen: true,
            installed: vec!["C".into(), "C.utf8".into(), "en_US.utf8".into()],
            supported: supported.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn names_are_a_list_or_a_comma_separated_string() {
        let vars = json!({"name": "de_CH.UTF-8, fr_FR.UTF-8"});
        let p = parse(vars.as_object().unwrap()).unwrap();
        assert_eq!(p.names, ["de_CH.UTF-8", "fr_FR.UTF-8"]);
        assert!(parse(json!({"name": "de CH"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn installed_names_compare_in_either_case() {
        let p = probe(&[]);
        assert!(p.is_installed("en_US.UTF-8"));
        assert!(p.is_installed("C.UTF-8"));
        assert!(!p.is_installed("de_CH.UTF-8"));
    }

    #[test]
    fn a_line_is_uncommented_commented_or_appended() {
        let p = probe(&["de_CH.UTF-8 UTF-8", "de_CH ISO-8859-1", "fr_FR.UTF-8 UTF-8"]);
        let text = "# de_CH ISO-8859-1\n# de_CH.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n";
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            edit_locale_gen(text, &names(&["de_CH.UTF-8"]), true, &p),
            "# de_CH ISO-8859-1\nde_CH.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n"
        );
        assert_eq!(
            edit_locale_gen(text, &names(&["en_US.UTF-8"]), false, &p),
            "# de_CH ISO-8859-1\n# de_CH.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n"
        );
        assert_eq!(
            edit_locale_gen("en_US.UTF-8 UTF-8", &names(&["fr_FR.UTF-8"]), true, &p),
            "en_US.UTF-8 UTF-8\nfr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(p.charset("de_CH"), Some("ISO-8859-1"));
        assert_eq!(p.charset("de"), None);
    }
}
