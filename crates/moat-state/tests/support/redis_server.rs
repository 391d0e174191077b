//! A real `redis-server` for the Redis stores' tests and benchmarks, on a
//! free port of 127.0.0.1, killed when dropped; optionally with a password
//! (`requirepass`) and TLS (a CA and server certificate generated for the
//! test). Included by the Redis tests and `benches/limits.rs` with `#[path]`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    setup: Setup,
}

/// How a server is started: a password and TLS, or neither.
#[derive(Default)]
pub struct Setup {
    password: Option<String>,
    tls: Option<Tls>,
}

/// A TLS port with a generated certificate for `localhost` and 127.0.0.1,
/// the files in a temporary directory.
struct Tls {
    port: u16,
    dir: tempfile::TempDir,
}

impl Setup {
    /// Requires `password` (`requirepass`, the default user's password).
    #[allow(dead_code)]
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Also listens with TLS, with a certificate from a CA of its own
    /// ([`RedisServer::ca_path`]). The plain port stays open on 127.0.0.1
    /// only for the readiness check.
    #[allow(dead_code)]
    pub fn with_tls(mut self) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_pki(dir.path());
        self.tls = Some(Tls {
            port: free_port(),
            dir,
        });
        self
    }

    /// Starts the server.
    #[allow(dead_code)]
    pub fn start(self) -> RedisServer {
        RedisServer::spawn(free_port(), self)
    }
}

/// A CA (`ca.pem`), and a server certificate it signed (`cert.pem`,
/// `key.pem`) for `localhost` and 127.0.0.1, into `dir`.
fn write_pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "moat redis test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key.pem");
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// Whether a server answers PING on `port` (`-NOAUTH` is an answer too: it
/// wants a password first).
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
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    /// Panics (never skips) when `redis-server` is not installed.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A server with a password or TLS: `RedisServer::setup().with_tls().start()`.
    #[allow(dead_code)]
    pub fn setup() -> Setup {
        Setup::default()
    }

    /// Starts a server on `port`.
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, Setup::default())
    }

    fn spawn(port: u16, setup: Setup) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir());
        if let Some(password) = &setup.password {
            command.args(["--requirepass", password]);
        }
        if let Some(tls) = &setup.tls {
            let file = |name: &str| tls.dir.path().join(name);
            command
                .args(["--tls-port", &tls.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("cert.pem"))
                .arg("--tls-key-file")
                .arg(file("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        }
        let spawned = command
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
            setup,
        }
    }

    /// The port it listens on.
    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL: `rediss://localhost:<tls port>/` with TLS, else
    /// `redis://127.0.0.1:<port>/`, with the password if there is one.
    pub fn url(&self) -> String {
        self.url_with_password(self.setup.password.as_deref())
    }

    /// Its URL with `password` (or none) in place of the right one.
    #[allow(dead_code)]
    pub fn url_with_password(&self, password: Option<&str>) -> String {
        let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
        match &self.setup.tls {
            Some(tls) => format!("rediss://{auth}localhost:{}/", tls.port),
            None => format!("redis://{auth}127.0.0.1:{}/", self.port),
        }
    }

    /// The CA that signed its TLS certificate.
    #[allow(dead_code)]
    pub fn ca_path(&self) -> Option<std::path::PathBuf> {
        self.setup.tls.as_ref().map(|t| t.dir.path().join("ca.pem"))
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
        let setup = std::mem::take(&mut self.setup);
        *self = Self::spawn(self.port, setup);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
