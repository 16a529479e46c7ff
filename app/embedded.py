"""The embedded PostGIS: a private PostgreSQL cluster under ``$SAFEGROUND_DATA_DIR``.

It uses the system's PostgreSQL binaries and listens on 127.0.0.1 at ``$SAFEGROUND_DB_PORT``
(54329 by default, never 5432, so it never collides with a system server) and on a unix
socket inside its own directory. PostgreSQL refuses to run as root, so when we are root the
server runs as the ``postgres`` system user (created by Debian's package) or, failing that,
a dedicated ``safeground`` system user.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings, get_settings

DB_USER = "safeground"
DB_NAME = "safeground"


class EmbeddedError(RuntimeError):
    """Raised with a message that tells the operator what to install or do."""


def find_pg_bindir() -> Path:
    """The newest system PostgreSQL server binaries (initdb, pg_ctl, postgres)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates = versions + candidates
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise EmbeddedError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with\n"
        "  sudo apt-get install postgresql postgresql-15-postgis-3\n"
        "or set SAFEGROUND_DATABASE_URL to an existing PostGIS database."
    )


def _postgis_available(bindir: Path) -> bool:
    version = bindir.parent.name
    return any(Path(f"/usr/share/postgresql/{version}/extension").glob("postgis.control"))


@dataclass
class Cluster:
    settings: Settings

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def port(self) -> int:
        return self.settings.db_port

    @property
    def password_file(self) -> Path:
        return self.data_dir / "db-password"

    # -- where the cluster lives -------------------------------------------------------
    @property
    def run_as(self) -> str | None:
        """The system user the server runs as, or None to run as ourselves."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "safeground"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "safeground"],
            check=True,
        )
        return "safeground"

    @property
    def pgdata(self) -> Path:
        """The cluster directory.

        Normally ``<data_dir>/pg``. As root, the server user must be able to reach it; when
        the checkout lies under a directory it cannot traverse (``/root`` is 0700), the
        cluster lives under ``/var/lib/safeground/<hash of data_dir>`` instead.
        """
        local = self.data_dir / "pg"
        if self.run_as is None or self._reachable(local.parent):
            return local
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]  # noqa: S324
        return Path("/var/lib/safeground") / digest / "pg"

    def _reachable(self, directory: Path) -> bool:
        directory.mkdir(parents=True, exist_ok=True)
        user = self.run_as
        if user is None:
            return True
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(directory)],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    # -- commands ----------------------------------------------------------------------
    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self.run_as
        cmd = ["runuser", "-u", user, "--", *args] if user else args
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise EmbeddedError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def _chown(self, path: Path) -> None:
        user = self.run_as
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}:{self.password()}@127.0.0.1:{self.port}/{DB_NAME}"

    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists() and self.password_file.exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        bindir = find_pg_bindir()
        return (
            self._run([str(bindir / "pg_ctl"), "status", "-D", str(self.pgdata)], check=False).returncode == 0
        )

    def init(self) -> None:
        bindir = find_pg_bindir()
        if not _postgis_available(bindir):
            raise EmbeddedError(
                f"PostGIS for PostgreSQL {bindir.parent.name} is not installed. Install it with\n"
                f"  sudo apt-get install postgresql-{bindir.parent.name}-postgis-3"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.pgdata
        if pgdata.exists() and any(pgdata.iterdir()):
            shutil.rmtree(pgdata)  # a half-made cluster from an interrupted run
        pgdata.mkdir(parents=True, exist_ok=True)
        self._chown(pgdata)
        password = secrets.token_urlsafe(24)
        pwfile = pgdata.parent / ".initdb-pw"
        pwfile.write_text(password + "\n")
        self._chown(pwfile)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    DB_USER,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = pgdata / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# SafeGround embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{pgdata}'\n"
                "max_connections = 300\n"
                "shared_buffers = 512MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
                "logging_collector = off\n"
            )
        old = os.umask(0o077)
        try:
            self.password_file.write_text(password + "\n")
        finally:
            os.umask(old)

    def start(self) -> None:
        # Several processes (test workers, a CLI beside a server) may start it at once.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._start_locked()

    def _start_locked(self) -> None:
        if not self.is_initialised():
            self.init()
        if self.is_running():
            self.ensure_database()
            return
        if _port_in_use(self.port):
            raise EmbeddedError(
                f"Port {self.port} on 127.0.0.1 is taken by another server. Set SAFEGROUND_DB_PORT "
                "to a free port or SAFEGROUND_DATABASE_URL to an existing database."
            )
        bindir = find_pg_bindir()
        log = self.pgdata.parent / "postgres.log"
        log.touch(exist_ok=True)
        self._chown(log)
        self._run([str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(log)])
        self.ensure_database()

    def stop(self) -> None:
        if self.is_running():
            bindir = find_pg_bindir()
            self._run([str(bindir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.pgdata)])

    def ensure_database(self) -> None:
        """Create the application database and PostGIS (in template1 too, for test copies)."""
        import psycopg2

        base = dict(host="127.0.0.1", port=self.port, user=DB_USER, password=self.password())
        # template1 first: databases created later (the app's, test copies) inherit PostGIS.
        for dbname in ("template1", "postgres"):
            conn = psycopg2.connect(dbname=dbname, **base)
            conn.autocommit = True
            with conn.cursor() as cur:
                if dbname == "template1":
                    cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                else:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
            conn.close()


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def cluster(settings: Settings | None = None) -> Cluster:
    return Cluster(settings or get_settings())


def database_url(settings: Settings | None = None, start: bool = True) -> str:
    """The URL to use: ``SAFEGROUND_DATABASE_URL`` when set, else the embedded cluster's."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    c = cluster(settings)
    if start:
        c.start()
    return c.url()
