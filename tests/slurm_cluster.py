"""A real one-node SLURM cluster for the tests (no mocks): munged, slurmctld and slurmd started from
a temporary directory, each on its own socket / ports, so nothing outside it is touched.

``slurm_cluster`` (session scope) installs the Debian packages when they are missing (as root,
with apt-get), writes ``slurm.conf`` (one node ``localhost`` with this machine's CPUs, partition
``debug``, linuxproc process tracking, no cgroups, no accounting; ``KillWait=2``: submitit ignores
SIGTERM, so a cancelled job is killed 2 s after scancel rather than the default 30 s), makes a
munge key, starts the three daemons as background processes (there is no systemd), points
``SLURM_CONF`` at the config and waits (bounded) until ``sinfo`` says the node is idle. Teardown
cancels what is left of the cluster's jobs and stops every daemon it started, by pid. Without root
or apt-get the tests are skipped with the reason, except under CI (``CI`` set), where that is a
failure.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "sbatch", "squeue", "sinfo", "scancel")
START_TIMEOUT_S = 60


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"SLURM is required in CI (CI is set): {reason}", pytrace=False)
    pytest.skip(reason)


def _have_binaries() -> bool:
    return all(shutil.which(b) or Path(b).exists() for b in BINARIES)


def _install() -> None:
    if _have_binaries():
        return
    if os.geteuid() != 0:
        _unavailable("SLURM is not installed and installing it needs root "
                     f"(apt-get install -y {' '.join(PACKAGES)})")
    if shutil.which("apt-get") is None:
        _unavailable("SLURM is not installed and apt-get is not available")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            _unavailable(f"{' '.join(cmd)} timed out")
        if r.returncode != 0:
            _unavailable(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
    if not _have_binaries():
        _unavailable(f"installed {' '.join(PACKAGES)} but some of {BINARIES} are still missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    env: dict
    processes: dict = field(default_factory=dict)   # name -> Popen

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster (bounded; never a bare srun)."""
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=self.env)

    def queue(self) -> list[str]:
        r = self.run("squeue", "-h", "-r", "-o", "%i")
        return r.stdout.split() if r.returncode == 0 else []

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("*.log")))


def _wait(predicate, timeout: float, what: str, cluster: SlurmCluster | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} after {timeout:.0f}s" + (f"\n{cluster.logs()}" if cluster else ""))


def start_cluster(root: Path) -> SlurmCluster:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    sock_dir, key_dir = root / "munge", root / "munge-key"
    sock_dir.mkdir(mode=0o755)       # munged: the socket directory must be executable by all
    key_dir.mkdir(mode=0o700)        # ... and the key readable by its owner (root) only
    key = key_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = sock_dir / "munge.sock"
    for d in ("state", "spool"):
        (root / d).mkdir()
    ncpu = os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=witness
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs={ncpu} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = dict(os.environ, SLURM_CONF=str(conf))
    cluster = SlurmCluster(root=root, conf=conf, env=env)
    daemons = {
        "munged": ["/usr/sbin/munged", "-F", f"--socket={sock}", f"--key-file={key}",
                   f"--log-file={key_dir}/munged.log", f"--pid-file={key_dir}/munged.pid",
                   f"--seed-file={key_dir}/munged.seed"],
        "slurmctld": ["/usr/sbin/slurmctld", "-D", "-f", str(conf)],
        "slurmd": ["/usr/sbin/slurmd", "-D", "-N", "localhost", "-f", str(conf)],
    }
    try:
        for name, cmd in daemons.items():
            with open(root / f"{name}.out.log", "w") as out:
                cluster.processes[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                                           start_new_session=True)
            if name == "munged":
                _wait(sock.exists, 20, "munged did not create its socket", cluster)
            time.sleep(0.5)
            if cluster.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {cluster.processes[name].returncode}\n{cluster.logs()}")

        def idle() -> bool:
            r = cluster.run("sinfo", "-h", "-o", "%T", timeout=10)
            return r.returncode == 0 and r.stdout.strip() == "idle"

        _wait(idle, START_TIMEOUT_S, "the SLURM node did not become idle", cluster)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: SlurmCluster) -> None:
    """Cancel the cluster's jobs, then stop the daemons this module started (by pid)."""
    if "slurmctld" in cluster.processes and cluster.processes["slurmctld"].poll() is None:
        try:
            cluster.run("scancel", "--user", str(os.geteuid()), timeout=20)
            deadline = time.monotonic() + 30
            while cluster.queue() and time.monotonic() < deadline:
                time.sleep(0.5)
        except (subprocess.TimeoutExpired, OSError):
            pass
    for name in ("slurmd", "slurmctld", "munged"):
        proc = cluster.processes.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A started one-node SLURM cluster; ``SLURM_CONF`` points at it while the session runs."""
    _install()
    if os.geteuid() != 0:
        _unavailable("the test cluster runs slurmd as root (SlurmdUser=root); run the tests as root")
    root = Path(tempfile.mkdtemp(prefix="witness-slurm-"))
    cluster = start_cluster(root)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        stop_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)
