//! A real `redis-server` for the Redis limit store's tests and benchmarks,
//! on a free port of 127.0.0.1, killed when dropped. Included by
//! `tests/redis.rs` and `benches/limits.rs` with `#[path]`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// Whether something answers PING on `port`.
fn pings(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    /// Panics (never skips) when `redis-server` is not installed.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port`.
    pub fn start_on(port: u16) -> Self {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: install the Debian package redis-server \
                 (apt-get install redis-server; scripts/test.sh does it)"
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pings(port) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server on port {port} exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer PING within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child: Some(child),
            port,
        }
    }

    /// The port it listens on.
    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id, for signals.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal (`STOP`, `CONT`, …) with kill(1).
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Kills the process and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (after [`Self::kill`]).
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start_on(self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
