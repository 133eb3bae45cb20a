//! `setup`: the host's facts, from one shell script in one round trip.
//! The script prints `key=value` lines using only POSIX tools and /proc;
//! what a host lacks (no `ip`, no /etc/os-release) is left out.

use serde_json::{Map, Value, json};

use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// setup (also `gather_facts`), as a task writes it.
pub const MODULE: Module = Module {
    name: "setup",
    aliases: &["gather_facts"],
    params: &[
        p("gather_subset"),
        p("filter"),
        p("gather_timeout"),
        p("fact_path"),
    ],
    run: async_run!(run),
    ..Module::DEFAULT
};

const SCRIPT: &str = r#"
echo "hostname=$(uname -n | cut -d. -f1)"
echo "nodename=$(uname -n)"
echo "fqdn=$( (hostname -f || uname -n) 2>/dev/null | head -n1)"
echo "system=$(uname -s)"
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "machine=$(uname -m)"
if [ -r /etc/os-release ]; then
  . /etc/os-release
  echo "os_id=$ID"; echo "os_id_like=$ID_LIKE"; echo "os_name=$NAME"
  echo "os_version=$VERSION_ID"; echo "os_codename=${VERSION_CODENAME:-$UBUNTU_CODENAME}"
fi
echo "vcpus=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null || getconf _NPROCESSORS_ONLN)"
echo "sockets=$(grep '^physical id' /proc/cpuinfo 2>/dev/null | sort -u | wc -l)"
echo "memtotal_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null)"
echo "memfree_kb=$(awk '/^MemFree:/ {print $2}' /proc/meminfo 2>/dev/null)"
echo "user_id=$(id -un)"; echo "user_uid=$(id -u)"; echo "user_gid=$(id -g)"
echo "env_HOME=$HOME"; echo "env_PATH=$PATH"; echo "env_USER=${USER:-$(id -un)}"; echo "env_SHELL=$SHELL"
echo "epoch=$(date +%s)"; echo "date=$(date +%Y-%m-%d)"; echo "time=$(date +%H:%M:%S)"
echo "iso8601=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "tz=$(date +%Z)"
echo "year=$(date +%Y)"; echo "month=$(date +%m)"; echo "day=$(date +%d)"; echo "hour=$(date +%H)"; echo "minute=$(date +%M)"; echo "second=$(date +%S)"; echo "weekday=$(date +%A)"
for c in apt-get dnf5 dnf yum zypper apk pacman pkg; do if command -v $c >/dev/null 2>&1; then echo "pkg_mgr=$c"; break; fi; done
echo "proc1=$(cat /proc/1/comm 2>/dev/null)"
if [ -d /run/systemd/system ] || [ -d /dev/.run/systemd ] || [ -d /dev/.systemd ]; then echo "systemd_running=1"; fi
if command -v initctl >/dev/null 2>&1 && [ -d /etc/init ]; then echo "upstart=1"; fi
if [ -e /sbin/openrc ]; then echo "openrc=1"; fi
case "$(readlink /sbin/init 2>/dev/null)" in *systemd*) echo "systemd_init=1";; esac
if [ -d /etc/init.d ]; then echo "initd=1"; fi
if [ -d /sys/class/net ]; then echo "interfaces=$(ls /sys/class/net | tr '\n' ' ')"; fi
if command -v ip >/dev/null 2>&1; then
  echo "default_route=$(ip -4 route get 1.0.0.0 2>/dev/null | head -n1)"
  ip -4 -o addr show 2>/dev/null | awk '{print "ipv4=" $2 " " $4}'
elif command -v hostname >/dev/null 2>&1; then
  echo "ipv4_list=$(hostname -I 2>/dev/null)"
fi
exit 0
"#;

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let filter = args.list("filter")?.unwrap_or_default();
    args.list("gather_subset")?;
    args.int("gather_timeout")?;
    args.str("fact_path")?;
    let out = ctx.transport.exec(SCRIPT, &ctx.exec).await?;
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "gathering facts failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut facts = parse(&String::from_utf8_lossy(&out.stdout));
    if !filter.is_empty() {
        facts.retain(|k, _| {
            filter.iter().any(|f| {
                glob::Pattern::new(f).map(|p| p.matches(k)).unwrap_or(false)
                    || glob::Pattern::new(&format!("ansible_{f}"))
                        .map(|p| p.matches(k))
                        .unwrap_or(false)
            })
        });
    }
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), Value::Object(facts));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

/// Ansible's `ansible_os_family` from /etc/os-release's ID and ID_LIKE.
fn os_family(id: &str, id_like: &str) -> String {
    let names: Vec<&str> = std::iter::once(id)
        .chain(id_like.split_whitespace())
        .collect();
    for n in &names {
        let family = match *n {
            "debian" | "ubuntu" | "linuxmint" | "raspbian" | "kali" | "pop" => "Debian",
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" | "redhat" => {
                "RedHat"
            }
            "suse" | "opensuse" | "sles" | "opensuse-leap" | "opensuse-tumbleweed" => "Suse",
            "arch" | "manjaro" | "endeavouros" => "Archlinux",
            "alpine" => "Alpine",
            "gentoo" => "Gentoo",
            "freebsd" => "FreeBSD",
            _ => continue,
        };
        return family.into();
    }
    capitalize(id)
}

/// Ansible's `ansible_distribution` ("Ubuntu", "Debian", "CentOS"...).
fn distribution(id: &str, name: &str) -> String {
    match id {
        "rhel" => "RedHat".into(),
        "centos" => "CentOS".into(),
        "ol" => "OracleLinux".into(),
        "amzn" => "Amazon".into(),
        "opensuse-leap" | "opensuse" => "openSUSE Leap".into(),
        "sles" => "SLES".into(),
        "almalinux" => "AlmaLinux".into(),
        "" => name.to_string(),
        other => capitalize(other),
    }
}

/// Ansible's `ansible_pkg_mgr` for the first package tool found.
fn pkg_mgr(tool: &str) -> &'static str {
    match tool {
        "apt-get" => "apt",
        "dnf5" => "dnf5",
        "dnf" => "dnf",
        "yum" => "yum",
        "zypper" => "zypper",
        "apk" => "apk",
        "pacman" => "pacman",
        "pkg" => "pkgng",
        _ => "unknown",
    }
}

/// Ansible's `ansible_service_mgr`: PID 1's name when it says, else what
/// the filesystem shows (`/run/systemd/system`, `/etc/init.d`...).
fn service_mgr(proc1: &str, has: &dyn Fn(&str) -> bool) -> &'static str {
    match proc1 {
        "systemd" => return "systemd",
        "runit" | "runit-init" => return "runit",
        "openrc-init" => return "openrc",
        "upstart" => return "upstart",
        _ => {}
    }
    if has("systemd_running") {
        "systemd"
    } else if has("upstart") {
        "upstart"
    } else if has("openrc") {
        "openrc"
    } else if has("systemd_init") {
        "systemd"
    } else if has("initd") {
        "sysvinit"
    } else {
        "service"
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn parse(text: &str) -> Map<String, Value> {
    let mut raw: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            raw.push((k.to_string(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        raw.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let num = |k: &str| get(k).parse::<i64>().unwrap_or(0);
    let mut f = Map::new();
    let mut put = |k: &str, v: Value| {
        f.insert(format!("ansible_{k}"), v);
    };
    put("hostname", json!(get("hostname")));
    put("nodename", json!(get("nodename")));
    put("fqdn", json!(get("fqdn")));
    put("system", json!(get("system")));
    put("kernel", json!(get("kernel")));
    put("kernel_version", json!(get("kernel_version")));
    put("machine", json!(get("machine")));
    let arch = match get("machine").as_str() {
        "i386" | "i486" | "i586" | "i686" => "i386".to_string(),
        m => m.to_string(),
    };
    put("architecture", json!(arch));
    let (id, like) = (get("os_id"), get("os_id_like"));
    let version = get("os_version");
    put("distribution", json!(distribution(&id, &get("os_name"))));
    put("distribution_version", json!(version));
    put(
        "distribution_major_version",
        json!(version.split('.').next().unwrap_or("")),
    );
    put("distribution_release", json!(get("os_codename")));
    put("os_family", json!(os_family(&id, &like)));
    put("pkg_mgr", json!(pkg_mgr(&get("pkg_mgr"))));
    put(
        "service_mgr",
        json!(service_mgr(&get("proc1"), &|k: &str| !get(k).is_empty())),
    );
    let vcpus = num("vcpus").max(1);
    put("processor_vcpus", json!(vcpus));
    put("processor_count", json!(num("sockets").max(1)));
    put("processor_nproc", json!(vcpus));
    put("memtotal_mb", json!(num("memtotal_kb") / 1024));
    put("memfree_mb", json!(num("memfree_kb") / 1024));
    put("user_id", json!(get("user_id")));
    put("user_uid", json!(num("user_uid")));
    put("user_gid", json!(num("user_gid")));
    put("user_dir", json!(get("env_HOME")));
    put(
        "env",
        json!({"HOME": get("env_HOME"), "PATH": get("env_PATH"), "USER": get("env_USER"), "SHELL": get("env_SHELL")}),
    );
    put(
        "date_time",
        json!({
            "epoch": get("epoch"), "date": get("date"), "time": get("time"),
            "iso8601": get("iso8601"), "tz": get("tz"), "year": get("year"),
            "month": get("month"), "day": get("day"), "hour": get("hour"),
            "minute": get("minute"), "second": get("second"), "weekday": get("weekday"),
        }),
    );
    let interfaces: Vec<String> = get("interfaces")
        .split_whitespace()
        .map(String::from)
        .collect();
    put("interfaces", json!(interfaces));
    // "eth0 10.0.0.5/24" lines from `ip -4 -o addr`.
    let mut all = Vec::new();
    let mut by_iface = Vec::new();
    for (k, v) in &raw {
        if k == "ipv4"
            && let Some((iface, cidr)) = v.split_once(' ')
        {
            let addr = cidr.split('/').next().unwrap_or(cidr).to_string();
            by_iface.push((iface.to_string(), addr.clone()));
            if !addr.starts_with("127.") {
                all.push(addr);
            }
        }
    }
    if by_iface.is_empty() {
        all.extend(
            get("ipv4_list")
                .split_whitespace()
                .filter(|a| a.contains('.'))
                .map(String::from),
        );
    }
    put("all_ipv4_addresses", json!(all));
    // "1.0.0.0 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0".
    let route = get("default_route");
    let words: Vec<&str> = route.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    };
    if let Some(address) = after("src") {
        let mut def = json!({"address": address});
        if let Some(dev) = after("dev") {
            def["interface"] = json!(dev);
        }
        if let Some(gw) = after("via") {
            def["gateway"] = json!(gw);
        }
        put("default_ipv4", def);
    } else {
        put("default_ipv4", json!({}));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_facts() {
        let text = "hostname=web1\nnodename=web1.example\nmachine=x86_64\nos_id=ubuntu\nos_id_like=debian\nos_version=24.04\nos_codename=noble\nvcpus=4\nmemtotal_kb=2048000\nipv4=lo 127.0.0.1/8\nipv4=eth0 10.0.0.5/24\ndefault_route=1.0.0.0 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0\n";
        let f = parse(text);
        assert_eq!(f["ansible_hostname"], "web1");
        assert_eq!(f["ansible_distribution"], "Ubuntu");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_distribution_major_version"], "24");
        assert_eq!(f["ansible_memtotal_mb"], 2000);
        assert_eq!(f["ansible_all_ipv4_addresses"], json!(["10.0.0.5"]));
        assert_eq!(f["ansible_default_ipv4"]["address"], "10.0.0.5");
        assert_eq!(f["ansible_default_ipv4"]["gateway"], "10.0.0.1");
        assert_eq!(os_family("rocky", "rhel centos fedora"), "RedHat");
        assert_eq!(f["ansible_pkg_mgr"], "unknown");
        let f = parse("pkg_mgr=apt-get\nproc1=sh\nsystemd_running=1\ninitd=1\n");
        assert_eq!(f["ansible_pkg_mgr"], "apt");
        assert_eq!(f["ansible_service_mgr"], "systemd");
        let f = parse("proc1=sh\ninitd=1\n");
        assert_eq!(f["ansible_service_mgr"], "sysvinit");
    }
}
