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
awk '/^(MemTotal|MemFree|Buffers|Cached|SwapCached|SwapTotal|SwapFree):/ {sub(":", "", $1); print "mem_" $1 "=" $2}' /proc/meminfo 2>/dev/null
echo "fips=$(cat /proc/sys/crypto/fips_enabled 2>/dev/null)"
if [ -d /sys/fs/selinux ] && [ -r /sys/fs/selinux/enforce ]; then
  echo "selinux_enforce=$(cat /sys/fs/selinux/enforce)"; echo "selinux_policyvers=$(cat /sys/fs/selinux/policyvers 2>/dev/null)"
  sed -n 's/^SELINUX=/selinux_config=/p; s/^SELINUXTYPE=/selinux_type=/p' /etc/selinux/config 2>/dev/null
fi
for py in /usr/bin/python3 python3 /usr/bin/python python; do
  if command -v "$py" >/dev/null 2>&1; then
    "$py" -c 'import sys, platform; v = sys.version_info; print("python=%s\t%d\t%d\t%d\t%s\t%d\t%s" % (sys.executable, v[0], v[1], v[2], v[3], v[4], platform.python_implementation().lower()))' 2>/dev/null && break
  fi
done
if [ -n "$HERD_VIRTUAL" ]; then
  if command -v systemd-detect-virt >/dev/null 2>&1; then
    echo "virt_container=$(systemd-detect-virt --container 2>/dev/null)"; echo "virt_vm=$(systemd-detect-virt --vm 2>/dev/null)"
  fi
  grep -qi docker /proc/1/cgroup 2>/dev/null && echo "virt_cgroup=docker"
  grep -qi lxc /proc/1/cgroup 2>/dev/null && echo "virt_cgroup=lxc"
  [ -e /.dockerenv ] || [ -e /.dockerinit ] && echo "virt_dockerenv=1"
  [ -e /run/.containerenv ] && echo "virt_containerenv=1"
  echo "virt_systemd_container=$(cat /run/systemd/container 2>/dev/null)"
  [ -d /proc/vz ] && echo "virt_vz=1"
  [ -e /proc/xen ] && echo "virt_xen=1"
  echo "virt_product=$(cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null)"
  echo "virt_vendor=$(cat /sys/devices/virtual/dmi/id/sys_vendor 2>/dev/null)"
fi
if [ -n "$HERD_HARDWARE" ]; then
  lsblk --list --noheadings --paths --output NAME,UUID --exclude 2 2>/dev/null | awk 'NF == 2 {print "uuid=" $1 " " $2}'
  while read -r dev mnt fs opts dump pass; do
    case "$dev" in /*|\\*|*:/*) ;; *) continue;; esac
    [ "$fs" = none ] && continue
    path=$(printf '%s' "$mnt" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')
    size=$(timeout 5 stat -f -c '%S %s %b %a %c %d' -- "$(printf '%b' "$path")" 2>/dev/null)
    printf 'mount=%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dev" "$mnt" "$fs" "$opts" "$dump" "$pass" "$size"
  done < /proc/mounts
fi
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
    let subsets = Subsets::from_list(&args.list("gather_subset")?.unwrap_or_default());
    args.int("gather_timeout")?;
    args.str("fact_path")?;
    // The slower collectors run only when their subset is asked for.
    let mut script = String::new();
    if subsets.hardware {
        script.push_str("HERD_HARDWARE=1; ");
    }
    if subsets.virtual_ {
        script.push_str("HERD_VIRTUAL=1; ");
    }
    script.push_str(SCRIPT);
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
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

/// Which of Ansible's `gather_subset` groups to collect beyond the
/// minimal facts, which are always gathered (they cost nothing extra).
#[derive(Debug, PartialEq)]
struct Subsets {
    /// Mounts and `memory_mb`.
    hardware: bool,
    /// `virtualization_type` / `_role`.
    virtual_: bool,
}

impl Subsets {
    /// Ansible's rules: the default is `all`; `!x` excludes x whatever else
    /// is asked; `!all` alone leaves the minimal facts.
    fn from_list(items: &[String]) -> Subsets {
        let items: Vec<&str> = if items.is_empty() {
            vec!["all"]
        } else {
            items.iter().map(|s| s.trim()).collect()
        };
        let wants = |name: &str| {
            let excluded = items.contains(&format!("!{name}").as_str());
            let included = items.contains(&name) || items.contains(&"all");
            // Only exclusions: everything else is still gathered.
            let only_exclusions = items.iter().all(|i| i.starts_with('!'));
            !excluded && (included || (only_exclusions && !items.contains(&"!all")))
        };
        Subsets {
            hardware: wants("hardware"),
            virtual_: wants("virtual"),
        }
    }
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
    put("fips", json!(get("fips") == "1"));
    put("selinux", selinux(&get));
    put("selinux_python_present", json!(true));
    python_facts(&get("python"), &mut put);
    memory_facts(&raw, &mut put);
    if raw.iter().any(|(k, _)| k.starts_with("virt_")) {
        let (kind, role) = virtualization(&get);
        put("virtualization_type", json!(kind));
        put("virtualization_role", json!(role));
    }
    let uuids: Vec<(&str, &str)> = raw
        .iter()
        .filter(|(k, _)| k == "uuid")
        .filter_map(|(_, v)| v.split_once(' '))
        .collect();
    // One entry per mount point, as Ansible keys them: a point mounted
    // over keeps its place and takes the later mount's details.
    let mut mounts: Vec<Value> = Vec::new();
    for entry in raw
        .iter()
        .filter(|(k, _)| k == "mount")
        .filter_map(|(_, v)| mount(v, &uuids))
    {
        match mounts.iter_mut().find(|m| m["mount"] == entry["mount"]) {
            Some(earlier) => *earlier = entry,
            None => mounts.push(entry),
        }
    }
    if raw.iter().any(|(k, _)| k == "mount") {
        put("mounts", json!(mounts));
    }
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

/// `ansible_selinux`: `{status: disabled}` without selinuxfs, else its
/// mode and the configured mode and policy.
fn selinux(get: &dyn Fn(&str) -> String) -> Value {
    let enforce = get("selinux_enforce");
    if enforce.is_empty() {
        return json!({"status": "disabled"});
    }
    let mode = if enforce == "1" {
        "enforcing"
    } else {
        "permissive"
    };
    let mut facts = json!({"status": "enabled", "mode": mode});
    if let Ok(v) = get("selinux_policyvers").parse::<i64>() {
        facts["policyvers"] = json!(v);
    }
    for (key, fact) in [("selinux_config", "config_mode"), ("selinux_type", "type")] {
        let value = get(key);
        if !value.is_empty() {
            facts[fact] = json!(value);
        }
    }
    facts
}

/// `ansible_python` and `ansible_python_version` from the `python=` line
/// (executable, the five parts of `sys.version_info`, implementation);
/// nothing when the host has no Python.
fn python_facts(line: &str, put: &mut dyn FnMut(&str, Value)) {
    let f: Vec<&str> = line.split('\t').collect();
    let [exe, major, minor, micro, level, serial, kind] = f[..] else {
        return;
    };
    let num = |s: &str| s.parse::<i64>().unwrap_or(0);
    let (major, minor, micro, serial) = (num(major), num(minor), num(micro), num(serial));
    put(
        "python",
        json!({
            "executable": exe,
            "has_sslcontext": true,
            "type": kind,
            "version": {"major": major, "minor": minor, "micro": micro,
                        "releaselevel": level, "serial": serial},
            "version_info": [major, minor, micro, level, serial],
        }),
    );
    put("python_version", json!(format!("{major}.{minor}.{micro}")));
}

/// `ansible_memory_mb` and the swap totals, in MiB from /proc/meminfo's
/// kB, computed as Ansible does.
fn memory_facts(raw: &[(String, String)], put: &mut dyn FnMut(&str, Value)) {
    let mb = |key: &str| {
        raw.iter()
            .find(|(k, _)| k.strip_prefix("mem_") == Some(key))
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .map(|kb| kb / 1024)
    };
    let (Some(total), Some(free)) = (mb("MemTotal"), mb("MemFree")) else {
        return;
    };
    let (buffers, cached) = (mb("Buffers").unwrap_or(0), mb("Cached").unwrap_or(0));
    let (swap_total, swap_free) = (mb("SwapTotal").unwrap_or(0), mb("SwapFree").unwrap_or(0));
    let nocache_free = free + buffers + cached;
    put("swaptotal_mb", json!(swap_total));
    put("swapfree_mb", json!(swap_free));
    put(
        "memory_mb",
        json!({
            "real": {"total": total, "used": total - free, "free": free},
            "nocache": {"free": nocache_free, "used": total - nocache_free},
            "swap": {"total": swap_total, "free": swap_free, "used": swap_total - swap_free,
                     "cached": mb("SwapCached").unwrap_or(0)},
        }),
    );
}

/// `ansible_virtualization_type` and `_role`, Ansible's way round:
/// containers first (cgroup, marker files, systemd's word), then the
/// machine (DMI, systemd-detect-virt), else "NA".
fn virtualization(get: &dyn Fn(&str) -> String) -> (String, &'static str) {
    let guest = |kind: &str| (kind.to_string(), "guest");
    let cgroup = get("virt_cgroup");
    if !cgroup.is_empty() {
        return guest(&cgroup);
    }
    if !get("virt_dockerenv").is_empty() {
        return guest("docker");
    }
    if !get("virt_containerenv").is_empty() {
        return guest("podman");
    }
    let container = get("virt_systemd_container");
    if !container.is_empty() {
        return guest(&container);
    }
    match get("virt_container").as_str() {
        "" | "none" => {}
        "systemd-nspawn" => return guest("systemd-nspawn"),
        "lxc" | "lxc-libvirt" => return guest("lxc"),
        "openvz" => return guest("openvz"),
        other => return guest(other),
    }
    if !get("virt_vz").is_empty() {
        return guest("openvz");
    }
    let (product, vendor) = (get("virt_product"), get("virt_vendor"));
    let dmi = format!("{product} {vendor}");
    for (needle, kind) in [
        ("KVM", "kvm"),
        ("QEMU", "kvm"),
        ("OpenStack", "openstack"),
        ("VMware", "VMware"),
        ("VirtualBox", "virtualbox"),
        ("innotek", "virtualbox"),
        ("Microsoft Corporation", "VirtualPC"),
        ("Xen", "xen"),
        ("Amazon EC2", "kvm"),
        ("Bochs", "kvm"),
        ("Parallels", "parallels"),
    ] {
        if dmi.contains(needle) {
            return guest(kind);
        }
    }
    match get("virt_vm").as_str() {
        "" | "none" => {}
        "kvm" | "qemu" | "amazon" | "bochs" => return guest("kvm"),
        "vmware" => return guest("VMware"),
        "oracle" => return guest("virtualbox"),
        "microsoft" => return guest("VirtualPC"),
        "xen" => return guest("xen"),
        other => return guest(other),
    }
    if !get("virt_xen").is_empty() {
        return guest("xen");
    }
    ("NA".into(), "NA")
}

/// One `ansible_mounts` entry from a `mount=` line: /proc/mounts' six
/// fields (octal escapes undone) and `stat -f`'s fundamental block size,
/// block size, blocks, available blocks, inodes, free inodes.
fn mount(line: &str, uuids: &[(&str, &str)]) -> Option<Value> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 6 {
        return None;
    }
    let device = unescape_octal(f[0]);
    let uuid = uuids
        .iter()
        .find(|(dev, _)| *dev == device)
        .map_or("N/A", |(_, u)| u);
    let mut entry = json!({
        "mount": unescape_octal(f[1]),
        "device": device,
        "fstype": f[2],
        "options": f[3],
        "dump": f[4].parse::<i64>().unwrap_or(0),
        "passno": f[5].parse::<i64>().unwrap_or(0),
        "uuid": uuid,
    });
    let size: Vec<u64> = f
        .get(6)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if let [frsize, bsize, blocks, bavail, files, ffree] = size[..] {
        entry["size_total"] = json!(frsize * blocks);
        entry["size_available"] = json!(frsize * bavail);
        entry["block_size"] = json!(bsize);
        entry["block_total"] = json!(blocks);
        entry["block_available"] = json!(bavail);
        entry["block_used"] = json!(blocks.saturating_sub(bavail));
        entry["inode_total"] = json!(files);
        entry["inode_available"] = json!(ffree);
        entry["inode_used"] = json!(files.saturating_sub(ffree));
    }
    Some(entry)
}

/// /proc/mounts writes a space as `\040`, a tab as `\011`...
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn parses_the_issue_16_facts() {
        let text = "mem_MemTotal=2048000\nmem_MemFree=1024000\nmem_Buffers=10240\nmem_Cached=102400\n\
            mem_SwapTotal=0\nmem_SwapFree=0\nmem_SwapCached=0\nfips=\n\
            python=/usr/bin/python3\t3\t11\t2\tfinal\t0\tcpython\n\
            virt_container=none\nvirt_vm=kvm\nvirt_product=\n\
            uuid=/dev/vda 1234-abcd\n\
            mount=/dev/vda\t/srv/my\\040data\text4\trw,relatime\t0\t0\t4096 4096 1000 250 500 100\n\
            mount=/dev/vdb\t/gone\text4\trw\t0\t2\n\
            mount=/dev/vdc\t/srv/my\\040data\txfs\tro\t0\t0\n";
        let f = parse(text);
        assert_eq!(
            f["ansible_memory_mb"]["real"],
            json!({"total": 2000, "used": 1000, "free": 1000})
        );
        assert_eq!(
            f["ansible_memory_mb"]["nocache"],
            json!({"free": 1110, "used": 890})
        );
        assert_eq!(f["ansible_memory_mb"]["swap"]["total"], 0);
        assert_eq!(f["ansible_fips"], false);
        assert_eq!(f["ansible_selinux"], json!({"status": "disabled"}));
        assert_eq!(f["ansible_python_version"], "3.11.2");
        assert_eq!(
            f["ansible_python"]["version_info"],
            json!([3, 11, 2, "final", 0])
        );
        assert_eq!(f["ansible_python"]["version"]["minor"], 11);
        assert_eq!(f["ansible_virtualization_type"], "kvm");
        assert_eq!(f["ansible_virtualization_role"], "guest");
        let m = &f["ansible_mounts"][0];
        assert_eq!(m["mount"], "/srv/my data");
        assert_eq!(
            m["fstype"], "xfs",
            "mounted over: the later mount, in the first's place"
        );
        let m = mount(
            "/dev/vda\t/srv/my\\040data\text4\trw,relatime\t0\t0\t4096 4096 1000 250 500 100",
            &[("/dev/vda", "1234-abcd")],
        )
        .unwrap();
        assert_eq!(m["mount"], "/srv/my data");
        assert_eq!(m["uuid"], "1234-abcd");
        assert_eq!(m["size_total"], 4096 * 1000);
        assert_eq!(m["size_available"], 4096 * 250);
        assert_eq!(m["block_used"], 750);
        assert_eq!(m["inode_used"], 400);
        assert_eq!(f["ansible_mounts"].as_array().unwrap().len(), 2);
        let m = &f["ansible_mounts"][1];
        assert_eq!(
            (m["uuid"].as_str(), m.get("size_total")),
            (Some("N/A"), None)
        );

        // No Python, SELinux enforcing, a docker container.
        let f = parse(
            "selinux_enforce=1\nselinux_config=enforcing\nselinux_type=targeted\nvirt_dockerenv=1\nvirt_vm=kvm\n",
        );
        assert!(f.get("ansible_python").is_none() && f.get("ansible_python_version").is_none());
        assert_eq!(f["ansible_selinux"]["mode"], "enforcing");
        assert_eq!(f["ansible_selinux"]["type"], "targeted");
        assert_eq!(f["ansible_virtualization_type"], "docker");
        assert!(f.get("ansible_mounts").is_none(), "not gathered: absent");
        let f = parse("virt_container=none\nvirt_vm=none\n");
        assert_eq!(f["ansible_virtualization_type"], "NA");
        assert_eq!(f["ansible_virtualization_role"], "NA");
    }

    #[test]
    fn gather_subset_follows_ansibles_rules() {
        let s = |items: &[&str]| {
            let v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            let s = Subsets::from_list(&v);
            (s.hardware, s.virtual_)
        };
        assert_eq!(s(&[]), (true, true));
        assert_eq!(s(&["all"]), (true, true));
        assert_eq!(s(&["min"]), (false, false));
        assert_eq!(s(&["!all"]), (false, false));
        assert_eq!(s(&["!hardware"]), (false, true));
        assert_eq!(s(&["!all", "virtual"]), (false, true));
        assert_eq!(s(&["all", "!virtual"]), (true, false));
    }
}
