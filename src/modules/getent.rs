//! `getent`: read a name service database (passwd, group, shadow, hosts,
//! services...) on the host and return it as the fact
//! `getent_<database>`: each entry's first field maps to its other fields,
//! as Ansible's module does. Reads only, so check mode runs it too.

use serde_json::{Value, json};

use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// getent, as a task writes it.
pub const MODULE: Module = Module {
    name: "getent",
    params: &[
        p("database"),
        p("key"),
        p("split"),
        p("service"),
        p("fail_key"),
    ],
    required: &[&["database"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Databases whose fields are separated by colons; the others by blanks.
const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let database = args.required(&["database"])?;
    let key = args.str("key")?;
    let service = args.str("service")?;
    let fail_key = args.bool("fail_key", true)?;
    let split = match args.str("split")? {
        Some(s) if !s.is_empty() => Some(s),
        _ => COLON.contains(&database.as_str()).then(|| ":".to_string()),
    };

    let mut command = String::from("getent");
    if let Some(service) = &service {
        command.push_str(&format!(" -s {}", shell_quote(service)));
    }
    command.push_str(&format!(" -- {}", shell_quote(&database)));
    if let Some(key) = &key {
        command.push_str(&format!(" {}", shell_quote(key)));
    }
    let out = ctx.transport.exec(&command, &ctx.exec).await?;
    let rc = super::command_run::rc(&out);
    let fact = format!("getent_{database}");
    let mut entries = Vars::new();
    let msg = match rc {
        0 => {
            let text = String::from_utf8_lossy(&out.stdout);
            collect(&text, split.as_deref(), &mut entries);
            None
        }
        1 => Some("Missing arguments, or database unknown."),
        2 => {
            if let (Some(key), false) = (&key, fail_key) {
                entries.insert(key.clone(), Value::Null);
                let mut data = Vars::new();
                data.insert("ansible_facts".into(), json!({ fact: entries }));
                data.insert(
                    "msg".into(),
                    json!("One or more supplied key could not be found in the database."),
                );
                return Ok(ModuleOutput {
                    data,
                    ..ModuleOutput::default()
                });
            }
            Some("One or more supplied key could not be found in the database.")
        }
        3 => Some("Enumeration not supported on this database."),
        _ => None,
    };
    if rc != 0 {
        let msg = msg.map(String::from).unwrap_or_else(|| {
            format!(
                "getent failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        });
        let mut failed = ModuleOutput::failed(msg);
        failed.data.insert("rc".into(), json!(rc));
        return Ok(failed);
    }
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), json!({ fact: entries }));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

/// Each line's first field to its other fields; a key seen more than once
/// maps to the list of its entries, as Ansible does.
fn collect(text: &str, split: Option<&str>, entries: &mut Vars) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for line in text.lines() {
        let fields: Vec<&str> = match split {
            Some(sep) => line.split(sep).collect(),
            None => line.split_whitespace().collect(),
        };
        let Some((first, rest)) = fields.split_first() else {
            continue;
        };
        let rest = json!(rest);
        let count = seen.entry(first.to_string()).or_insert(0);
        *count += 1;
        match *count {
            1 => {
                entries.insert(first.to_string(), rest);
            }
            2 => {
                if let Some(entry) = entries.get_mut(*first) {
                    let earlier = entry.take();
                    *entry = json!([earlier, rest]);
                }
            }
            _ => {
                if let Some(Value::Array(list)) = entries.get_mut(*first) {
                    list.push(rest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_map_their_first_field_to_the_others() {
        let mut e = Vars::new();
        collect("root:x:0:0:root:/root:/bin/bash\n", Some(":"), &mut e);
        assert_eq!(
            e["root"],
            json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        let mut e = Vars::new();
        collect("127.0.0.1 localhost\n127.0.0.1 lo2\n", None, &mut e);
        assert_eq!(e["127.0.0.1"], json!([["localhost"], ["lo2"]]));
    }
}
