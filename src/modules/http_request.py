# herd's HTTP client for get_url and uri, run on the managed host with
# python3 (urllib), as Ansible's modules make their requests from the host.
# herd sends this file and then, after a NUL byte, the parameters as JSON on
# stdin (a one-line bootstrap given to `python3 -c` splits them): no value
# is ever written into this code. The answer is one JSON
# line on stdout, followed by the response body when it was asked for
# (bounded by "body_limit").
import base64
import email.message
import email.utils
import gzip
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CHUNK = 64 * 1024


def answer(meta, body=b""):
    out = sys.stdout.buffer
    out.write(json.dumps(meta).encode("utf-8") + b"\n")
    out.write(body)
    out.flush()
    sys.exit(0)


def digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def op_inspect(p):
    """What get_url needs to know about dest before any request."""
    path = os.path.expanduser(p["path"])
    meta = {"exists": os.path.exists(path), "is_dir": os.path.isdir(path)}
    if meta["exists"] and not meta["is_dir"] and p.get("algorithm"):
        try:
            meta["digest"] = digest(path, p["algorithm"])
        except ValueError:
            meta["error"] = "unsupported hash algorithm: %s" % p["algorithm"]
        except OSError as e:
            meta["error"] = "cannot read %s: %s" % (path, e)
    answer(meta)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, *args, **kwargs):
        self.socket_path = socket_path
        http.client.HTTPConnection.__init__(self, *args, **kwargs)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
            self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def unix_handler(socket_path):
    class UnixHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(
                lambda host, **kw: UnixConnection(socket_path, host, **kw), req
            )

    return UnixHandler()


def redirect_handler(policy, method):
    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if policy in ("no", "none"):
                return None
            if policy == "safe" and req.get_method() not in ("GET", "HEAD"):
                return None
            new = urllib.request.HTTPRedirectHandler.redirect_request(
                self, req, fp, code, msg, headers, newurl
            )
            if new is not None and policy in ("all", "yes") and code in (307, 308):
                # Keep the method and body, as Ansible's "all" does.
                new = urllib.request.Request(
                    newurl,
                    data=req.data,
                    headers=dict(req.header_items()),
                    method=req.get_method(),
                )
            return new

        http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302

    return Redirects()


def encode_body(p):
    """The body as uri's body_format says: a JSON document or a form made
    from data, or the text as it is."""
    body, form = p.get("body"), p.get("body_format", "raw")
    if body is None:
        return None
    if form == "json" and not isinstance(body, str):
        body = json.dumps(body)
    elif form == "form-urlencoded" and not isinstance(body, str):
        pairs = []
        for key, values in body.items() if isinstance(body, dict) else body:
            if isinstance(values, str) or not isinstance(values, (list, dict)):
                values = [values]
            for value in values:
                if value is not None:
                    pairs.append((str(key), str(value)))
        body = urllib.parse.urlencode(pairs, doseq=True)
    elif not isinstance(body, str):
        body = str(body)
    return body.encode("utf-8")


def open_request(p):
    url = p["url"]
    parts = urllib.parse.urlsplit(url)
    username, password = p.get("username"), p.get("password")
    if parts.username is not None and username is None:
        # Credentials written in the URL, as Ansible accepts them.
        username = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname or ""
        if parts.port:
            netloc += ":%d" % parts.port
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    handlers = []
    if not p.get("use_proxy", True):
        handlers.append(urllib.request.ProxyHandler({}))
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not p.get("validate_certs", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    if p.get("unix_socket"):
        handlers.append(unix_handler(os.path.expanduser(p["unix_socket"])))
    handlers.append(redirect_handler(p.get("follow_redirects", "urllib2"), p["method"]))
    headers = dict(p.get("headers") or {})
    lower = [k.lower() for k in headers]
    if username is not None:
        if p.get("force_basic_auth"):
            token = base64.b64encode(
                ("%s:%s" % (username, password or "")).encode("utf-8")
            ).decode("ascii")
            headers["Authorization"] = "Basic " + token
        else:
            manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            manager.add_password(None, url, username, password or "")
            handlers.append(urllib.request.HTTPBasicAuthHandler(manager))
    if "user-agent" not in lower and p.get("http_agent"):
        headers["User-Agent"] = p["http_agent"]
    if p.get("decompress", True) and "accept-encoding" not in lower:
        headers["Accept-Encoding"] = "gzip"
    since = p.get("if_modified_since")
    since = since and os.path.expanduser(since)
    if since and not p.get("force") and os.path.isfile(since):
        stamp = email.utils.formatdate(os.path.getmtime(since), usegmt=True)
        headers["If-Modified-Since"] = stamp
    if p.get("force"):
        headers["Cache-Control"] = "no-cache"
    req = urllib.request.Request(url, data=encode_body(p), method=p["method"])
    unredirected = [h.lower() for h in p.get("unredirected_headers") or []]
    for name, value in headers.items():
        if name.lower() in unredirected:
            req.add_unredirected_header(name, str(value))
        else:
            req.add_header(name, str(value))
    opener = urllib.request.build_opener(*handlers)
    return opener.open(req, timeout=p.get("timeout", 30))


def response_info(p, resp, status, msg):
    headers = {}
    cookies = {}
    for name, value in resp.headers.items() if resp.headers else []:
        key = name.lower()
        if key == "set-cookie":
            first = value.split(";", 1)[0]
            if "=" in first:
                k, v = first.split("=", 1)
                cookies[k.strip()] = v.strip()
        headers[key] = value
    return {
        "status": status,
        "msg": msg,
        "url": resp.geturl() or p["url"],
        "headers": headers,
        "cookies": cookies,
    }


def body_reader(resp, p):
    if p.get("decompress", True) and (resp.headers or {}).get("Content-Encoding") == "gzip":
        return gzip.GzipFile(fileobj=resp, mode="rb")
    return resp


def read_body(reader, limit):
    """At most limit bytes; the flag says whether more was there."""
    chunks, size = [], 0
    while size <= limit:
        block = reader.read(min(CHUNK, limit + 1 - size))
        if not block:
            return b"".join(chunks), False
        chunks.append(block)
        size += len(block)
    return b"".join(chunks)[:limit], True


def charset_of(resp):
    msg = email.message.Message()
    msg["content-type"] = (resp.headers or {}).get("Content-Type", "")
    return msg.get_content_charset() or "utf-8"


def filename_from(resp):
    msg = email.message.Message()
    msg["content-disposition"] = (resp.headers or {}).get("Content-Disposition", "")
    name = msg.get_param("filename", header="content-disposition")
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    if name:
        name = os.path.basename(name)
    return name or None


def url_filename(url):
    name = os.path.basename(urllib.parse.urlsplit(url)[2])
    return name or "index.html"


def backup(path):
    copy = "%s.%s.%s" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S~"))
    shutil.copy2(path, copy)
    return copy


def install(tmp, dest):
    """Rename tmp onto dest keeping an existing dest's mode and owner; a
    copy beside dest first when tmp lives on another filesystem."""
    if os.path.exists(dest):
        st = os.stat(dest)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        os.rename(tmp, dest)
    except OSError:
        fd, beside = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".herd-")
        os.close(fd)
        shutil.copy2(tmp, beside)
        os.rename(beside, dest)
        os.remove(tmp)


def save(p, resp, reader, meta):
    """Streams the body into a temp file, then decides and installs."""
    s = p["save"]
    dest = os.path.expanduser(s["dest"])
    if os.path.isdir(dest):
        # Names from the server: a base name, never "." or ".." (which would
        # land outside or on the directory itself).
        name = filename_from(resp)
        if name in (None, ".", ".."):
            name = url_filename(meta["url"]) if s.get("name_from_url") else "index.html"
        if name in (".", ".."):
            name = "index.html"
        dest = os.path.join(dest, name)
    meta["dest"] = dest
    tmp_dir = s.get("tmp_dir")
    if tmp_dir:
        tmp_dir = os.path.expanduser(tmp_dir)
        if not os.path.isdir(tmp_dir):
            what = "is a file but should be a directory" if os.path.exists(tmp_dir) else "directory does not exist"
            meta["failed"] = "%s %s." % (tmp_dir, what)
            return
    else:
        tmp_dir = os.path.dirname(dest) or "."
        if not os.path.isdir(tmp_dir):
            meta["failed"] = "Destination %s does not exist" % tmp_dir
            return
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".herd-download-")
    try:
        sha1, md5 = hashlib.sha1(), hashlib.md5()
        expect = s.get("expect")
        try:
            check = hashlib.new(expect[0]) if expect else None
        except ValueError:
            meta["failed"] = "unsupported hash algorithm: %s" % expect[0]
            return
        size = 0
        with os.fdopen(fd, "wb") as f:
            for block in iter(lambda: reader.read(CHUNK), b""):
                f.write(block)
                size += len(block)
                sha1.update(block)
                md5.update(block)
                if check:
                    check.update(block)
        meta["size"] = size
        length = meta["headers"].get("content-length")
        gz = meta["headers"].get("content-encoding") == "gzip" and p.get("decompress", True)
        if s.get("whole") and not s.get("dry_run") and length and length.isdigit() and not gz and int(length) != size:
            meta["failed"] = "Incomplete read: got %d of %s bytes" % (size, length)
            return
        meta["checksum_src"] = sha1.hexdigest()
        meta["md5sum"] = md5.hexdigest()
        if os.path.exists(dest):
            if not os.access(dest, os.W_OK):
                meta["failed"] = "Destination %s is not writable" % dest
                return
            meta["checksum_dest"] = digest(dest, "sha1")
        elif not os.path.isdir(os.path.dirname(dest) or "."):
            meta["failed"] = "Destination %s does not exist" % os.path.dirname(dest)
            return
        if s.get("dry_run"):
            return
        if check and check.hexdigest() != expect[1]:
            meta["failed"] = "The checksum for %s did not match %s; it was %s." % (
                dest, expect[1], check.hexdigest())
            return
        if meta["checksum_src"] != meta.get("checksum_dest"):
            if s.get("backup") and os.path.exists(dest):
                meta["backup_file"] = backup(dest)
            install(tmp, dest)
            meta["written"] = True
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def op_request(p):
    if p.get("creates") and os.path.exists(os.path.expanduser(p["creates"])):
        answer({"skipped": "skipped, since '%s' exists" % p["creates"]})
    if p.get("removes") and not os.path.exists(os.path.expanduser(p["removes"])):
        answer({"skipped": "skipped, since '%s' does not exist" % p["removes"]})
    try:
        encode_body(p)
    except (TypeError, ValueError) as e:
        answer({"failed": "failed to parse body as %s: %s" % (p.get("body_format"), e)})
    started = time.time()
    try:
        resp = open_request(p)
        status = getattr(resp, "status", None) or resp.getcode() or 200
        msg = "OK (%s bytes)" % (resp.headers or {}).get("Content-Length", "unknown")
    except urllib.error.HTTPError as e:
        resp, status, msg = e, e.code, str(e)
    except urllib.error.URLError as e:
        answer({"status": -1, "msg": "Request failed: %s" % e, "url": p["url"],
                "elapsed": int(time.time() - started)})
    except socket.timeout as e:
        answer({"status": -1, "msg": "Connection failure: %s" % e, "url": p["url"],
                "elapsed": int(time.time() - started)})
    except (OSError, ValueError, http.client.HTTPException) as e:
        answer({"status": -1, "msg": "An unknown error occurred: %s" % e, "url": p["url"],
                "elapsed": int(time.time() - started)})
    meta = response_info(p, resp, status, msg)
    body = b""
    try:
        reader = body_reader(resp, p)
        if p.get("save") and status in p["save"]["statuses"]:
            save(p, resp, reader, meta)
        elif p.get("body_limit") is not None and (
            p.get("want_body") or status not in p.get("statuses", [status])
            or any(c in meta["headers"].get("content-type", "") for c in ("json", "javascript"))
        ):
            raw, meta["body_truncated"] = read_body(reader, p["body_limit"])
            body = raw.decode(charset_of(resp), "replace").encode("utf-8")
            meta["body_read"] = True
    except (OSError, EOFError, ValueError, http.client.HTTPException) as e:
        meta["failed"] = "Failed to read the response: %s" % e
    finally:
        resp.close()
    meta["elapsed"] = int(time.time() - started)
    answer(meta, body)


def main():
    # PARAMS: the bytes after the NUL on stdin, handed over by the bootstrap.
    params = json.loads(PARAMS.decode("utf-8"))  # noqa: F821
    {"inspect": op_inspect, "request": op_request}[params["op"]](params)


main()
