//! A real PostgreSQL server for the PostgreSQL store's tests: `initdb` into
//! a temporary directory, `postgres` on a free port of 127.0.0.1 with
//! password (SCRAM) authentication, database `moat` created, killed when
//! dropped. Only std and `tempfile`, so that any crate's tests can include
//! it with `#[path = "../../moat-state/tests/support/postgres.rs"]`.
//!
//! As root (CI), `initdb` and `postgres` run as the `postgres` user (which
//! the Debian package creates) through `runuser`, since PostgreSQL refuses
//! to run as root.
#![allow(dead_code)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user (a superuser) and its password.
const USER: &str = "moat";
const PASSWORD: &str = "moat-test-password";
/// The database the URL names.
const DATABASE: &str = "moat";

/// A running PostgreSQL server.
pub struct PostgresServer {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    // Last: removed after the server is gone.
    dir: tempfile::TempDir,
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The directory of `initdb` and `postgres`: where `initdb` is on PATH,
/// else the newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    });
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): \
             install the Debian package postgresql (apt-get install postgresql; \
             scripts/test.sh does it)"
        ),
    }
}

/// The processes whose parent is `pid` (from `/proc`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parens.
            let after = stat.get(stat.rfind(')')? + 1..)?;
            let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat.get(i + 1..))
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// `program` from `bin`, run as the `postgres` user when we are root.
fn command(bin: &Path, program: &str) -> Command {
    let program = bin.join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs `c` to completion; panics with its output when it fails.
fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PostgresServer {
    /// Creates a cluster in a temporary directory, starts it on a free
    /// port, waits until it accepts connections and creates database
    /// `moat`. Panics (never skips) when PostgreSQL is not installed.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        std::fs::create_dir(root.join("sock")).expect("socket directory");
        let pwfile = root.join("pwfile");
        std::fs::File::create(&pwfile)
            .and_then(|mut f| f.write_all(PASSWORD.as_bytes()))
            .expect("password file");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(root);
                    c
                },
                "chown",
            );
        }
        let mut initdb = command(&bin, "initdb");
        initdb
            .args(["--no-sync", "-A", "scram-sha-256", "-U", USER, "-E", "UTF8"])
            .args(["--locale", "C"])
            .arg("--pwfile")
            .arg(&pwfile)
            .arg("-D")
            .arg(root.join("data"));
        run(initdb, "initdb");
        // Single-user mode creates the database before the server listens.
        let mut single = command(&bin, "postgres");
        single
            .args(["--single", "-D"])
            .arg(root.join("data"))
            .arg("postgres")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = single.spawn().expect("run postgres --single");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("CREATE DATABASE {DATABASE};\n").as_bytes())
                .expect("write to postgres --single");
        }
        let out = child.wait_with_output().expect("postgres --single");
        assert!(
            out.status.success(),
            "postgres --single failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Self {
            child: None,
            port: free_port(),
            bin,
            dir,
        };
        if let Err(e) = server.spawn() {
            panic!("{e}");
        }
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `postgres` on the data directory and port; waits until it
    /// reports itself ready in `postmaster.pid` and accepts a connection.
    fn spawn(&mut self) -> Result<(), String> {
        let mut c = command(&self.bin, "postgres");
        c.arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().join("sock").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().map_err(|e| format!("cannot run postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "postgres on port {} exited at start: {status}",
                    self.port
                ));
            }
            if self.ready() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "postgres on port {} was not ready within 30 s",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The server wrote "ready" as the status in `postmaster.pid` (it
    /// accepts connections) and its port answers.
    fn ready(&self) -> bool {
        let pid_file =
            std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap_or_default();
        let ready = pid_file.lines().nth(7).is_some_and(|l| l.trim() == "ready");
        ready
            && TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
                Duration::from_millis(200),
            )
            .is_ok()
    }

    /// The postmaster's process id, from `postmaster.pid` (the child we
    /// hold may be `runuser`).
    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// `postgres://moat:PASSWORD@127.0.0.1:PORT/moat`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The password in [`Self::url`], for tests that check it never leaks.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the postmaster and every
    /// backend, as kill(1) would: `STOP` freezes the server with its
    /// connections open, as a hung host does.
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let pid = self.postmaster_pid().expect("the server is running");
        let mut all = vec![pid];
        all.extend(children(pid));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(all.iter().map(u32::to_string))
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Kills the server with SIGKILL, its postmaster and every backend
    /// (a backend outlives its postmaster until it notices, and would
    /// still answer its client), and waits until they are gone.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = self.postmaster_pid() {
            let backends = children(pid);
            let mut all = vec![pid];
            all.extend(backends);
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(all.iter().map(u32::to_string))
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while all.iter().any(|p| alive(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and data directory (after
    /// [`Self::kill`], or killing it first). Backends of the killed server
    /// exit when they notice; until they have, the new one is refused and
    /// tried again.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
    }
}
