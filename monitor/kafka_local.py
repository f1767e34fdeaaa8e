"""A real single-node Apache Kafka (KRaft) on 127.0.0.1, fetched from Maven Central and run from a folder."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "3.9.1"
SCALA_VERSION = "2.13"
# kafka-python 3.0 and aiokafka 0.14 (faust) both speak the 3.9 protocol versions; 4.x removes old ones.

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>vigil</groupId><artifactId>kafka-broker-dist</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId><version>{version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>{version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
"""

LOG4J = """log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
"""


class LocalKafkaError(RuntimeError):
    """Raised with a message that tells the user what to install or fix."""


def default_cache_dir() -> Path:
    """Where broker jars live: outside git, shared by every checkout of this user."""
    base = os.environ.get("VIGIL_KAFKA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vigil", "kafka"
    )
    return Path(base) / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}"


# The broker's collector: ZGC, whose pauses stay under a millisecond. G1 (Kafka's start script's choice, with a
# 20 ms pause goal, and the JVM's default) stopped a loaded broker for 10-30 ms one to three times a second
# (48-83 ms at worst, 2.2-4.9 s of pauses in a 3-minute bench), and everything in flight waited; the alert
# latency's p99 at a quarter load fell from 105-125 ms to 92-98 ms (bench/README.md, twenty-first session).
BROKER_GC_FLAGS = ("-XX:+UseZGC",)


# The bench's broker keeps its data in memory when the machine has room there: on this VM's ext4 disk the first
# write to a fresh topic's memory-mapped index page stalled the broker's request handler for up to 1.25 s, and the
# bench makes fresh topics for every measurement (bench/README.md, twenty-seventh session). The integration tests'
# broker stays on disk: in memory their slowest module took as long (151 and 151 s). A deployment keeps its data
# on its own disks.
MEMORY_ROOT = Path("/dev/shm")


def filesystem_of(path: Path, mounts: str) -> str:
    """The type of the filesystem holding `path`, from /proc/mounts' text (its longest mount point above it)."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def filesystem_at(path: Path) -> str:
    """The type of the filesystem holding `path` ("unknown" without /proc/mounts)."""
    try:
        return filesystem_of(path, Path("/proc/mounts").read_text())
    except OSError:
        return "unknown"


def scratch_root(min_free: int, candidate: Path = MEMORY_ROOT) -> Path:
    """Where a throwaway broker keeps its data: `candidate` when it is a writable tmpfs with `min_free` bytes
    free, else the system's temporary folder."""
    try:
        usable = candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
        roomy = usable and shutil.disk_usage(candidate).free >= min_free
    except OSError:
        roomy = False
    return candidate if roomy and filesystem_at(candidate) == "tmpfs" else Path(tempfile.gettempdir())


def broker_jvm_flags(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The broker's JVM flags: its collector, then VIGIL_BROKER_JVM_OPTS (later flags win, e.g. a GC log)."""
    return (*BROKER_GC_FLAGS, *shlex.split(env.get("VIGIL_BROKER_JVM_OPTS", "")))


def broker_properties(port: int, controller_port: int, data_dir: Path, extra: dict[str, str] | None = None) -> str:
    """The single-node KRaft configuration (design section 8); docker-compose.yml mirrors these settings."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "12",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "12",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.check.interval.ms": "60000",
        # two request handlers and one network thread (Kafka's are 8 and 3): a single node on a small machine
        # shares its cores, and more threads only queue for them (bench/README.md, twenty-second session)
        "num.io.threads": "2",
        "num.network.threads": "1",
    }
    props.update(extra or {})
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()  # free_port()'s answers in this process, not handed out twice


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The ports the kernel gives outbound connections and bind(0); Linux's default when unreadable."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port(ephemeral: tuple[int, int] | None = None) -> int:
    """A port free now that a child process binds later: outside the ephemeral range when there is room, since
    any client connection opened meanwhile takes its port from that range (a notifier's webhook port was taken
    by a Kafka connection between the pick and the bind)."""
    low, high = ephemeral or ephemeral_range()
    spans = [(lo, hi) for lo, hi in ((10_000, low - 1), (high + 1, 65_535)) if hi - lo >= 1_000]
    for _ in range(200 if spans else 0):
        lo, hi = random.choice(spans)
        port = random.randint(lo, hi)
        if port not in _handed_out and _port_free(port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass
class LocalKafka:
    """One broker: its port, its state folder (config, KRaft data, PID file, log) and the cached jars."""

    state_dir: Path
    port: int = 9092
    controller_port: int | None = None
    cache_dir: Path | None = None
    heap: str = "512m"
    client_kwargs: dict[str, object] | None = None  # kafka-python security kwargs for probes (monitor.security)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        self.cache_dir = Path(self.cache_dir or default_cache_dir())
        if self.controller_port is None:
            self.controller_port = self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / "libs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def properties_file(self) -> Path:
        return self.state_dir / "server.properties"

    # -- jars -------------------------------------------------------------------------------------------------

    def fetch(self, echo: bool = True) -> Path:
        """Downloads the pinned broker jars with Maven once, into the cache folder."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        _require("java", "a Java runtime 17 or newer (Debian/Ubuntu: apt install openjdk-17-jre-headless)")
        _require("mvn", "Apache Maven 3.6+ (Debian/Ubuntu: apt install maven)")
        assert self.cache_dir is not None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        (self.cache_dir / "pom.xml").write_text(POM.format(scala=SCALA_VERSION, version=KAFKA_VERSION))
        tmp = self.cache_dir / "libs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        if echo:
            print(f"vigil: fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {self.cache_dir} ...")
        proc = subprocess.run(
            ["mvn", "-B", "-q", *os.environ.get("VIGIL_MAVEN_ARGS", "").split(), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
            cwd=self.cache_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise LocalKafkaError(
                f"Maven could not fetch org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION} from its registry.\n"
                "Check network access to https://repo.maven.apache.org (or your mirror in ~/.m2/settings.xml).\n"
                f"Maven said:\n{tail}"
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        marker.write_text(KAFKA_VERSION)
        return self.libs

    def _java(self, main: str, *args: str, heap: str = "256m", flags: tuple[str, ...] = ("-XX:+UseG1GC",),
              ) -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            *flags,
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.state_dir / 'log4j.properties'}",
            "-cp",
            str(self.libs / "*"),
            main,
            *args,
        ]

    # -- lifecycle --------------------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The PID of this folder's broker if it is alive and really ours, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return pid
        return pid if str(self.properties_file) in cmdline else None

    def _format(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the storage tool would read a leading '-' as an option (1 run in 32)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        proc = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties_file),
                       *self.format_args()),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise LocalKafkaError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")

    def format_args(self) -> tuple[str, ...]:
        """Extra `kafka-storage format` arguments (kafka_secure adds SCRAM users here)."""
        return ()

    def up(self, timeout_s: float = 120.0, extra_properties: dict[str, str] | None = None) -> str:
        """Starts the broker unless it already runs, waits for a metadata answer, and returns bootstrap."""
        from monitor.kafka_admin import wait_ready

        self.fetch()
        if self.pid() is not None:
            if wait_ready(self.bootstrap, timeout_s=timeout_s, security=self.client_kwargs):
                return self.bootstrap
            raise LocalKafkaError(f"a broker runs (pid {self.pid()}) but does not answer; see {self.log_file}")
        self.pid_file.unlink(missing_ok=True)
        assert self.controller_port is not None
        for port in (self.port, self.controller_port):
            if not _port_free(port):
                raise LocalKafkaError(
                    f"port {port} on 127.0.0.1 is taken by another process; "
                    "stop it or choose another port (VIGIL_KAFKA_PORT / --port)"
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(
            broker_properties(self.port, self.controller_port, self.data_dir, extra_properties)
        )
        (self.state_dir / "log4j.properties").write_text(LOG4J.format(log=self.log_file))
        self._format()
        with open(self.state_dir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.properties_file), heap=self.heap, flags=broker_jvm_flags()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        if not wait_ready(self.bootstrap, timeout_s=timeout_s, alive=lambda: proc.poll() is None,
                          security=self.client_kwargs):
            code = proc.poll()
            self.down()
            raise LocalKafkaError(
                f"the broker did not become ready (exit code {code}); last log lines:\n{self.tail(20)}"
            )
        return self.bootstrap

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stops only this folder's broker PID (TERM, then KILL); fine when it is already gone."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _pid_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILLs the broker, as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)

    def status(self) -> str:
        from monitor.kafka_admin import broker_ready

        pid = self.pid()
        if pid is None:
            return f"stopped (state in {self.state_dir})"
        ready = broker_ready(self.bootstrap, security=self.client_kwargs)
        return f"{'running' if ready else 'starting or unresponsive'} pid={pid} bootstrap={self.bootstrap}"

    def tail(self, lines: int = 50) -> str:
        for path in (self.log_file, self.state_dir / "stdout.log"):
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log yet)"

    def destroy(self) -> None:
        """Stops the broker and deletes its state folder (tests use a fresh one each session)."""
        self.down()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _require(tool: str, what: str) -> None:
    if shutil.which(tool) is None:
        raise LocalKafkaError(f"'{tool}' was not found on PATH. vigil's local broker needs {what}.")
