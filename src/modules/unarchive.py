# herd's `unarchive` worker: run on the host by `python3 -c`, parameters as
# JSON on stdin, the result as one JSON object on stdout. Written for herd
# (src/modules/unarchive.rs checks the parameters). It decides as Ansible's
# unarchive does: GNU tar's --diff for tar archives, each member's size and
# CRC for zip; then tar/unzip extract, and owner/group/mode are set on
# every listed file.
import codecs
import fnmatch
import grp
import json
import os
import pwd
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import zlib

a = json.load(sys.stdin)
res = {"changed": False}
env = dict(os.environ, LANG="C", LC_ALL="C", LC_MESSAGES="C", LANGUAGE="C")
cleanup = []


def done(**kw):
    res.update(kw)
    for path in cleanup:
        try:
            os.unlink(path)
        except OSError:
            pass
    print(json.dumps(res))
    sys.exit(0)


def fail(msg, **kw):
    done(failed=True, msg=msg, **kw)


def run(cmd):
    p = subprocess.run(cmd, cwd=dest, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def excluded(name):
    return any(fnmatch.fnmatch(name, e) for e in excludes)


def download(url):
    ctx = None if a["validate_certs"] else ssl._create_unverified_context()
    fd, path = tempfile.mkstemp(suffix="-" + os.path.basename(url.split("?")[0]))
    cleanup.append(path)
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=60) as r, os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(r, f)
    except Exception as e:
        fail("Failure downloading %s, %s" % (url, e))
    return path


def apply_mode(spec, mode, is_dir):
    # chmod's symbolic clauses (u+rwX,g-w,o=r), several operators per clause.
    mode &= 0o7777
    for clause in spec.split(","):
        who = ""
        while clause and clause[0] in "ugoa":
            who, clause = who + clause[0], clause[1:]
        mask = 0
        for w in who or "a":
            mask |= {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o7777}[w]
        start = mode
        while clause:
            op, clause = clause[0], clause[1:]
            perms = ""
            while clause and clause[0] not in "+-=":
                perms, clause = perms + clause[0], clause[1:]
            bits = 0
            for p in perms:
                if p == "X":
                    bits |= 0o111 if (is_dir or start & 0o111) else 0
                else:
                    bits |= {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}[p]
            bits &= mask
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~mask) | bits
    return mode


def wanted_id(name, lookup, tool, kind, path):
    # A number as it is, else the id of the named user or group.
    try:
        return int(name) if name.isdigit() else lookup(name)
    except KeyError:
        fail("%s failed: failed to look up %s %s" % (tool, kind, name), path=path)


def set_attrs(path):
    # Ansible's set_fs_attributes_if_different: True when something changed.
    try:
        st = os.lstat(path)
    except OSError:
        return False
    changed = False
    uid = gid = -1
    if a["owner"] is not None:
        want = wanted_id(a["owner"], lambda n: pwd.getpwnam(n).pw_uid, "chown", "user", path)
        if st.st_uid != want:
            uid = want
    if a["group"] is not None:
        want = wanted_id(a["group"], lambda n: grp.getgrnam(n).gr_gid, "chgrp", "group", path)
        if st.st_gid != want:
            gid = want
    if uid != -1 or gid != -1:
        changed = True
        if not a["check_mode"]:
            os.lchown(path, uid, gid)
    mode = a["mode"]
    if mode is not None and not stat.S_ISLNK(st.st_mode):
        have = stat.S_IMODE(st.st_mode)
        want = mode if isinstance(mode, int) else apply_mode(mode, have, stat.S_ISDIR(st.st_mode))
        if want != have:
            changed = True
            if not a["check_mode"]:
                os.chmod(path, want)
    return changed


src = a["src"]
dest = os.path.abspath(a["dest"])
excludes = [e.rstrip("/") for e in a["exclude"]]
includes = a["include"]
cleanup.extend(a["cleanup"])

if a["creates"] is not None and os.path.exists(os.path.expanduser(a["creates"])):
    done(skipped=True, msg="skipped, since %s exists" % a["creates"])
if not os.path.exists(src):
    if not a["remote_src"]:
        fail("Source '%s' failed to transfer" % src)
    elif "://" in src:
        src = download(src)
    else:
        fail("Source '%s' does not exist" % src)
if not os.access(src, os.R_OK):
    fail("Source '%s' not readable" % src)
src = os.path.abspath(src)
if os.path.getsize(src) == 0:
    fail("Invalid archive '%s', the file is 0 bytes" % src)
if not os.path.isdir(dest):
    fail("Destination '%s' is not a directory" % a["dest"])
res.update(dest=a["dest"], src=src)
if not os.path.isabs(a["dest"]):
    res["warnings"] = ["Relative destination path '%s' was resolved to absolute path '%s'." % (a["dest"], dest)]

# Which tool reads it, and what is in it.
handler, files, tar, flag = None, [], None, None
reasons = []
if zipfile.is_zipfile(src):
    if shutil.which("unzip") is None:
        fail("Failed to find handler for \"%s\". Make sure the required command to extract the file is installed.\nUnable to find required 'unzip' binary in the path" % src)
    handler = "ZipArchive"
    with zipfile.ZipFile(src) as z:
        members = z.infolist()
    for m in members:
        if excluded(m.filename):
            continue
        if includes and not any(fnmatch.fnmatch(m.filename, i) for i in includes):
            continue
        files.append(m.filename)
else:
    tar = shutil.which("gtar") or shutil.which("tar")
    if tar is None:
        fail("Failed to find handler for \"%s\". Make sure the required command to extract the file is installed.\nUnable to find required 'gtar' or 'tar' binary in the path" % src)
    version = subprocess.run([tar, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    if not (version.startswith("tar") and "GNU" in version):
        fail("Failed to find handler for \"%s\". Make sure the required command to extract the file is installed.\nCommand \"%s\" detected as tar type bsd. GNU tar required." % (src, tar))
    for name, f in (("TgzArchive", "-z"), ("TarArchive", ""), ("TarBzipArchive", "-j"),
                    ("TarXzArchive", "-J"), ("TarZstdArchive", "--use-compress-program=zstd")):
        cmd = [tar, "--list", "-C", dest] + ([f] if f else [])
        if a["extra_opts"]:
            cmd += ["--show-transformed-names"] + a["extra_opts"]
        cmd += ["--exclude=" + e for e in excludes] + ["-f", src] + includes
        rc, out, err = run(cmd)
        if rc == 0 and out.strip():
            handler, flag = name, f
            for line in out.splitlines():
                # GNU tar writes non-ASCII names as octal escapes in the C locale.
                line = codecs.escape_decode(line)[0].decode("utf-8", "replace")
                line = line.lstrip("/")
                if not excluded(line):
                    files.append(line)
            break
        if rc == 0:
            reasons.append('Command "%s" found no files in archive. Empty archive files are not supported.' % tar)
        else:
            reasons.append('Command "%s" could not handle archive: Unable to list files in the archive: %s' % (tar, err.strip()))
    if handler is None:
        fail("Failed to find handler for \"%s\". Make sure the required command to extract the file is installed.\n%s" % (src, "\n".join(sorted(set(reasons)))))
    if a["check_mode"]:
        done(skipped=True, msg="remote module (unarchive) does not support check mode when using gtar")
res["handler"] = handler


def tar_cmd(action):
    cmd = [tar, action, "-C", dest] + ([flag] if flag else [])
    if a["extra_opts"]:
        cmd += ["--show-transformed-names"] + a["extra_opts"]
    if a["owner"] is not None:
        cmd.append("--owner=" + a["owner"])
    if a["group"] is not None:
        cmd.append("--group=" + a["group"])
    if a["keep_newer"]:
        cmd.append("--keep-newer-files")
    return cmd + ["--exclude=" + e for e in excludes] + ["-f", src] + includes


# Is it already there?
if handler == "ZipArchive":
    unarchived = True
    with zipfile.ZipFile(src) as z:
        for m in z.infolist():
            if m.filename not in files:
                continue
            path = os.path.join(dest, m.filename)
            try:
                st = os.lstat(path)
            except OSError:
                unarchived = False
                break
            if m.is_dir():
                if not stat.S_ISDIR(st.st_mode):
                    unarchived = False
                    break
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size != m.file_size:
                unarchived = False
                break
            crc = 0
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(65536), b""):
                    crc = zlib.crc32(block, crc)
            if crc & 0xFFFFFFFF != m.CRC:
                unarchived = False
                break
else:
    rc, out, err = run(tar_cmd("--diff"))
    differs = ("Mod time differs", "No such file or directory", "Contents differ", "Size differs",
               "Symlink differs", "does not exist", "Not found in archive", "File type differs")
    unarchived = True
    root = os.getuid() == 0
    for line in (out + err).splitlines():
        if ": : Warning: Cannot stat: No such file or directory" in line:
            continue
        if any(d in line for d in differs) \
                or (root and a["owner"] is None and "Uid differs" in line) \
                or (root and a["group"] is None and "Gid differs" in line) \
                or (a["mode"] is None and "Mode differs" in line):
            unarchived = False
            break

if a["check_mode"]:
    res["changed"] = not unarchived
elif not unarchived:
    if handler == "ZipArchive":
        cmd = ["unzip", "-o"] + a["extra_opts"] + [src]
        if excludes:
            cmd += ["-x"] + excludes
        cmd += includes + ["-d", dest]
    else:
        cmd = tar_cmd("--extract")
    rc, out, err = run(cmd)
    res["extract_results"] = {"cmd": cmd, "rc": rc, "out": out, "err": err}
    if rc != 0:
        fail("failed to unpack %s to %s" % (src, a["dest"]))
    res["changed"] = True

# Owner, group and mode of every listed file (reported, not set, in check mode).
top = []
for name in files:
    if set_attrs(os.path.join(dest, name)):
        res["changed"] = True
    if "/" in name and name.split("/")[0] not in top:
        top.append(name.split("/")[0])
for name in top:
    if set_attrs(os.path.join(dest, name)):
        res["changed"] = True

if a["list_files"]:
    res["files"] = files
done()
