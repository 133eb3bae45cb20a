# herd's `find` walker: run on the host by `python3 -c`, parameters as JSON
# on stdin, the result as one JSON object on stdout. Written for herd
# (src/modules/find.rs decides the parameters); it follows the semantics of
# Ansible's find module: names matched with fnmatch or re.match, contents
# with re, `examined` counting every entry of every directory walked.
import fnmatch
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import sys
import time

a = json.load(sys.stdin)
regex = a["use_regex"]
patterns = a["patterns"] or ([".*"] if regex else ["*"])
excludes = a["excludes"]
content = re.compile(a["contains"]) if a["contains"] is not None else None
now = time.time()


def name_ok(name):
    def hit(p):
        return re.match(p, name) if regex else fnmatch.fnmatch(name, p)

    return any(hit(p) for p in patterns) and not any(hit(e) for e in excludes)


def age_ok(st):
    age = a["age"]
    if age is None:
        return True
    elapsed = now - getattr(st, "st_" + a["age_stamp"])
    return elapsed >= age if age >= 0 else elapsed <= -age


def size_ok(st):
    size = a["size"]
    if size is None:
        return True
    return st.st_size >= size if size >= 0 else st.st_size <= -size


def mode_ok(st):
    mode = a["mode"]
    if mode is None:
        return True
    have = stat.S_IMODE(st.st_mode)
    return have == mode if a["exact_mode"] else bool(have & mode)


def content_ok(path):
    if content is None:
        return True
    enc = a["encoding"]
    try:
        with open(path, encoding=enc) as f:
            if a["read_whole_file"]:
                return bool(content.search(f.read()))
            return any(content.match(line) for line in f)
    except LookupError:
        raise
    except UnicodeDecodeError:
        shown = enc if enc is not None else 'None (default determined by the Python built-in function "open")'
        raise Exception(
            "Failed to read the file %s due to an encoding error. current encoding: %s" % (path, shown)
        )
    except Exception:
        return False


def checksum(path):
    h = hashlib.new(a["checksum_algorithm"])
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def info(path, st):
    m = st.st_mode
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = ""
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = ""
    r = {
        "path": path, "mode": "%04o" % stat.S_IMODE(m),
        "isdir": stat.S_ISDIR(m), "ischr": stat.S_ISCHR(m), "isblk": stat.S_ISBLK(m),
        "isreg": stat.S_ISREG(m), "isfifo": stat.S_ISFIFO(m), "islnk": stat.S_ISLNK(m),
        "issock": stat.S_ISSOCK(m), "uid": st.st_uid, "gid": st.st_gid,
        "size": st.st_size, "inode": st.st_ino, "dev": st.st_dev, "nlink": st.st_nlink,
        "atime": st.st_atime, "mtime": st.st_mtime, "ctime": st.st_ctime,
        "gr_name": group, "pw_name": owner,
    }
    for who, bits in (("usr", (stat.S_IRUSR, stat.S_IWUSR, stat.S_IXUSR)),
                      ("grp", (stat.S_IRGRP, stat.S_IWGRP, stat.S_IXGRP)),
                      ("oth", (stat.S_IROTH, stat.S_IWOTH, stat.S_IXOTH))):
        r["r" + who], r["w" + who], r["x" + who] = (bool(m & b) for b in bits)
    r["isuid"] = bool(m & stat.S_ISUID)
    r["isgid"] = bool(m & stat.S_ISGID)
    return r


def expand(path):
    # `~` is the running (become) user's home, from the password database.
    if path == "~" or path.startswith("~/"):
        path = pwd.getpwuid(os.getuid()).pw_dir + path[1:]
    return os.path.expanduser(os.path.expandvars(path))


files, skipped, examined = [], {}, 0
limit = a["max_matches"]
want = a["file_type"]
for top in a["paths"]:
    top = expand(top)
    try:
        if not os.path.isdir(top):
            raise Exception("'%s' is not a directory" % top)

        def walk_error(e):
            skipped[e.filename] = str(e)

        for root, dirs, names in os.walk(top, onerror=walk_error, followlinks=a["follow"]):
            examined += len(names) + len(dirs)
            for entry in names + dirs:
                path = os.path.normpath(os.path.join(root, entry))
                if a["depth"]:
                    base = top.rstrip(os.path.sep) + os.path.sep
                    if path.count(os.path.sep) - base.count(os.path.sep) + 1 > a["depth"]:
                        del dirs[:]
                        continue
                if entry.startswith(".") and not a["hidden"]:
                    continue
                try:
                    st = os.lstat(path)
                except OSError as e:
                    skipped[path] = str(e)
                    continue
                m = st.st_mode
                if not (name_ok(entry) and age_ok(st) and mode_ok(st)):
                    continue
                if want == "any":
                    if stat.S_ISREG(m) and not size_ok(st):
                        continue
                elif want == "directory":
                    if not stat.S_ISDIR(m):
                        continue
                elif want == "file":
                    if not (stat.S_ISREG(m) and size_ok(st) and content_ok(path)):
                        continue
                elif not stat.S_ISLNK(m):
                    continue
                r = info(path, st)
                if stat.S_ISREG(m) and a["get_checksum"]:
                    r["checksum"] = checksum(path)
                files.append(r)
                if len(files) > limit:
                    print(json.dumps({"too_many": limit}))
                    sys.exit(0)
            if not a["recurse"]:
                break
    except Exception as e:
        skipped[top] = str(e)

msg = "Not all paths examined, check warnings for details" if skipped else "All paths examined"
print(json.dumps({"files": files, "matched": len(files), "examined": examined,
                  "skipped_paths": skipped, "msg": msg}))
