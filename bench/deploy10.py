# bench/playbook10.yml for pyinfra: the same ten small tasks, each as
# pyinfra's nearest operation, inside each host's root_dir. Run from the
# peer harness's pyinfra/ folder (its inventory.py) by bench/run.sh.
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

ten = f"{host.data.root_dir}/ten"

files.directory(name="root_dir exists", path=ten, mode="755")
files.put(name="a file from content", src=StringIO("one\n"), dest=f"{ten}/a", mode="644")
files.put(name="another", src=StringIO("two\n"), dest=f"{ten}/b", mode="644")
files.line(name="a line in it", path=f"{ten}/a", line="one")
files.file(name="its mode", path=f"{ten}/a", mode="644")
files.link(name="a link", path=f"{ten}/link", target=f"{ten}/a")
server.shell(name="a command", commands=[f"cat {ten}/a"])
server.shell(name="a shell line", commands=[f"test -f {ten}/b"])
# ansible's stat: a fact read on the host (pyinfra has no stat operation).
host.get_fact(File, path=f"{ten}/b")
files.put(name="a third file", src=StringIO("three\n"), dest=f"{ten}/c", mode="644")
