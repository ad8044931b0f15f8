"""The Debian package: cpack builds build/package/mega_VERSION_ARCH.deb, whose control file
names the packages of every shared library the binary links, marks /etc/mega/wechat.ini as a
conffile and carries the maintainer scripts of packaging/. Unpacked into a throwaway root
(dpkg -x), its binary runs, its config is the sample with the packaged paths and valid, and
its systemd unit passes `systemd-analyze verify`. As root (CI), the package is also installed
for real with dpkg -i (the mega user, the directories and their modes, an operator's edit of
the conffile kept by a reinstall, logrotate's check of its file) and purged again; no service
is ever started. MEGA_TEST_NO_DPKG=1 skips the real install.
"""

import fcntl
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

env = harness.Env("package")
S = {}
PACKAGING = os.path.join(harness.SOURCE_DIR, "packaging")
CONFIG = "/etc/mega/wechat.ini"
UNIT = "usr/lib/systemd/system/mega@.service"
# The sample's lines that the packaged config changes, and what they become.
PACKAGED_LINES = {
    "queue_file_path = logs/queue": "queue_file_path = /var/lib/mega/wechat",
    ";pid_file = logs/queue/mega.pid": ";pid_file = /var/lib/mega/wechat/mega.pid",
    "daemonize = 1": "daemonize = 0",
    "log_file = logs/mega.log": "log_file = /var/log/mega/wechat.log",
}


def run(*cmd, timeout=120, ok=True):
    p = harness.run_captured(list(cmd), cwd=env.dir, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if ok:
        check(p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{out}\n{err}")
    return p.returncode, out, err


def setup():
    for tool in ("cpack", "dpkg-deb", "systemd-analyze"):
        check(shutil.which(tool), f"{tool} is missing (tools/test installs it)")
    out_dir = os.path.join(harness.BUILD_DIR, "package")
    for old in glob.glob(os.path.join(out_dir, "*.deb")):
        os.remove(old)
    t0 = time.monotonic()
    run("cpack", "-G", "DEB", "--config", os.path.join(harness.BUILD_DIR, "CPackConfig.cmake"),
        "-B", out_dir, timeout=240)
    debs = glob.glob(os.path.join(out_dir, "mega_*.deb"))
    check(len(debs) == 1, f"cpack made {debs}, not one mega_*.deb")
    print(f"[package] {debs[0]} built in {time.monotonic() - t0:.1f}s")
    S["deb"] = debs[0]
    S["root"] = os.path.join(env.dir, "root")
    run("dpkg-deb", "-x", S["deb"], S["root"])
    S["control"] = os.path.join(env.dir, "control")
    run("dpkg-deb", "-e", S["deb"], S["control"])


def field(name):
    return run("dpkg-deb", "-f", S["deb"], name)[1].strip()


def linked_packages(binary):
    """The Debian packages of the shared libraries `binary` links directly (its NEEDED
    entries, found where ldd finds them, owned per dpkg -S)."""
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", run("readelf", "-d", binary)[1])
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", run("ldd", binary)[1], re.M))
    packages = set()
    for soname in needed:
        check(soname in where, f"ldd does not find {soname}")
        owner = subprocess.run(["dpkg", "-S", where[soname]], capture_output=True, text=True)
        if owner.returncode != 0:  # merged /usr: dpkg may know the other path
            other = os.path.realpath(where[soname])
            owner = subprocess.run(["dpkg", "-S", other], capture_output=True, text=True)
        check(owner.returncode == 0, f"no package owns {where[soname]}")
        packages.add(owner.stdout.split(":")[0])
    return packages


def satisfied(package, depends):
    """Whether `package`, or a name it Provides, is among `depends`."""
    provides = run("dpkg-query", "-W", "-f=${Provides}", package)[1]
    names = {package} | {re.split(r"[\s(]", p.strip())[0] for p in provides.split(",") if p.strip()}
    return bool(names & depends)


def test_control_file_names_every_linked_library():
    check(field("Package") == "mega", "Package is not mega")
    depends = field("Depends")
    names = {re.split(r"[\s(]", d.strip())[0] for part in depends.split(",")
             for d in part.split("|")}
    check("adduser" in names, f"adduser (postinst) missing from Depends: {depends}")
    for binary in ("mega", "mega-cli"):
        linked = linked_packages(os.path.join(harness.BUILD_DIR, binary))
        missing = {p for p in linked if not satisfied(p, names)}
        check(not missing, f"{binary} links libraries of {missing}, not in Depends: {depends}")


def test_conffiles_and_maintainer_scripts():
    with open(os.path.join(S["control"], "conffiles")) as f:
        check(f.read().split() == [CONFIG], "conffiles is not exactly /etc/mega/wechat.ini")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(S["control"], script)
        check(os.access(path, os.X_OK), f"{script} missing or not executable")
        with open(path) as a, open(os.path.join(PACKAGING, script)) as b:
            check(a.read() == b.read(), f"{script} differs from packaging/{script}")
        run("sh", "-n", path)


def test_files_and_owners():
    listing = run("dpkg-deb", "-c", S["deb"])[1].splitlines()
    check(all(" root/root " in line for line in listing), "a file not owned by root/root")
    paths = {line.split()[-1].lstrip(".") for line in listing}
    schemas = {"/usr/share/mega/schema/" + os.path.basename(p) for p in
               glob.glob(os.path.join(harness.SOURCE_DIR, "config", "schema", "*.sql"))}
    wanted = {"/usr/bin/mega", "/usr/bin/mega-cli", "/" + UNIT, "/etc/logrotate.d/mega",
              CONFIG, "/usr/share/mega/wechat.ini"} | schemas
    check(wanted <= paths, f"missing from the package: {sorted(wanted - paths)}")


def test_packaged_config_is_the_sample_with_packaged_paths():
    with open(os.path.join(harness.SOURCE_DIR, "config", "wechat.ini")) as f:
        sample = f.read().splitlines()
    with open(S["root"] + CONFIG) as f:
        packaged = [line for line in f.read().splitlines()]
    body = packaged[len(packaged) - len(sample):]
    check(all(line.startswith(";") for line in packaged[:len(packaged) - len(sample)]),
          "the packaged config has more than a comment header on top of the sample")
    expected = [PACKAGED_LINES.get(line, line) for line in sample]
    diff = [(a, b) for a, b in zip(expected, body) if a != b]
    check(not diff, f"packaged config differs from the sample beyond the paths: {diff[:3]}")
    # The binary of the package runs and accepts the config (status: 3, not running).
    binary = S["root"] + "/usr/bin/mega"
    run(binary, "--version")
    rc, out, err = run(binary, "-c", S["root"] + CONFIG, "status", ok=False)
    check(rc == 3, f"mega status with the packaged config: exit {rc}\n{out}{err}")


def verify_unit(*args):
    """systemd-analyze verify; any warning fails too (an unknown key is only a warning)."""
    rc, out, err = run("systemd-analyze", "verify", "--man=no", *args, ok=False)
    check(rc == 0 and not out.strip() and not err.strip(),
          f"systemd-analyze verify {' '.join(args)}: exit {rc}\n{out}{err}")


def test_unit_passes_systemd_analyze_verify():
    with open(os.path.join(S["root"], UNIT)) as f:
        unit = f.read()
    for line in ("ExecStart=/usr/bin/mega -c /etc/mega/%i.ini start --foreground",
                 "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=mega",
                 "LogsDirectory=mega", "User=mega"):
        check(line in unit.splitlines(), f"the unit lacks {line}")
    with open(S["root"] + "/etc/logrotate.d/mega") as f:
        check("--signal=USR1 'mega@*.service'" in f.read(), "logrotate does not send USR1")
    # The unit as installed, but for the path of its binary: the one of the unpacked package
    # (systemd-analyze --root needs a whole system in the root).
    unit_dir = os.path.join(env.dir, "units")
    os.makedirs(unit_dir)
    with open(os.path.join(unit_dir, "mega@wechat.service"), "w") as f:
        f.write(unit.replace("ExecStart=/usr/bin/mega ", f"ExecStart={S['root']}/usr/bin/mega "))
    verify_unit(os.path.join(unit_dir, "mega@wechat.service"))


def dpkg(*args):
    """dpkg, waiting while another dpkg or apt holds the lock."""
    deadline = time.monotonic() + 120
    while True:
        rc, out, err = run("dpkg", *args, ok=False)
        if rc == 0 or "lock" not in err or time.monotonic() > deadline:
            check(rc == 0, f"dpkg {' '.join(args)}: exit {rc}\n{out}{err}")
            return out
        time.sleep(1)


def installed():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "mega"], capture_output=True,
                       text=True)
    return p.returncode == 0 and p.stdout.endswith(" installed")


def purge(user_was_there):
    dpkg("-P", "mega")
    if not user_was_there:
        subprocess.run(["deluser", "--system", "--quiet", "mega"], stderr=subprocess.DEVNULL)
        shutil.rmtree("/var/lib/mega", ignore_errors=True)


def test_real_install_and_purge():
    if os.geteuid() != 0 or os.environ.get("MEGA_TEST_NO_DPKG"):
        print("[package] SKIP dpkg -i (not root, or MEGA_TEST_NO_DPKG set)")
        return
    # One real install at a time on this machine (test runs of other worktrees).
    with open("/run/lock/mega-test-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            print("[package] SKIP dpkg -i (a mega package is installed already)")
            return
        install_and_purge()


def install_and_purge():
    try:
        pwd.getpwnam("mega")
        user_was_there = True
    except KeyError:
        user_was_there = False
    handle = harness.on_exit(purge, user_was_there)
    dpkg("-i", S["deb"])
    mega = pwd.getpwnam("mega")
    for d in ("/var/lib/mega", "/var/log/mega"):
        st = os.stat(d)
        check(st.st_uid == mega.pw_uid and st.st_mode & 0o777 == 0o750, f"{d}: owner or mode")
    st = os.stat(CONFIG)
    check(st.st_uid == 0 and st.st_gid == mega.pw_gid and st.st_mode & 0o777 == 0o640,
          f"{CONFIG}: not root:mega 0640")
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "mega")[1]
    check(CONFIG in conffiles, f"dpkg does not list {CONFIG} as a conffile: {conffiles}")
    # The mega user can read its config (status: 3, not running).
    rc, out, err = run("runuser", "-u", "mega", "--", "/usr/bin/mega", "-c", CONFIG, "status",
                       ok=False)
    check(rc == 3, f"mega status as the mega user: exit {rc}\n{out}{err}")
    verify_unit("mega@wechat.service")
    if shutil.which("logrotate"):
        run("logrotate", "-d", "/etc/logrotate.d/mega")
    # An operator's edit of the conffile survives a reinstall.
    with open(CONFIG, "a") as f:
        f.write("; edited by the operator\n")
    dpkg("--force-confold", "-i", S["deb"])
    with open(CONFIG) as f:
        check(f.read().endswith("; edited by the operator\n"), "a reinstall lost the edit")
    harness.megastack.forget_on_exit(handle)
    purge(user_was_there)
    for gone in ("/usr/bin/mega", CONFIG, "/var/log/mega", "/" + UNIT):
        check(not os.path.exists(gone), f"{gone} is still there after dpkg -P")


harness.run_tests(globals(), env, setup)
