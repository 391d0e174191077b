//! The demo's opening traffic: a few of the guide's requests, sent through
//! the gateway as the demo starts, so the console and `moat events` have
//! something to show at once.
//!
//! They come from 127.0.0.2 (any 127/8 address reaches loopback on
//! Linux), so they neither use up the rate limit nor count towards the
//! lockout of the reader's own requests from 127.0.0.1; where that
//! address cannot be bound, they come from the default one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The address the opening traffic comes from.
const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// One request of the opening: method, target, extra header lines, body.
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    headers: String,
    body: &'a str,
}

/// Sends the opening requests; returns how many were answered.
pub(super) async fn run(gateway: SocketAddr, api_key: &str, jwt: &str) -> usize {
    let json = "content-type: application/json\r\n";
    let requests = [
        // An injection in a documented parameter.
        Request {
            method: "GET",
            target: "/api/books?q=%27%20OR%20%271%27%3D%271%27--",
            headers: String::new(),
            body: "",
        },
        // Script in a parameter.
        Request {
            method: "GET",
            target: "/api/books?q=%3Cscript%3Efetch(%27//evil.example%27)%3C/script%3E",
            headers: String::new(),
            body: "",
        },
        // Shadow endpoints.
        Request {
            method: "GET",
            target: "/api/debug/config",
            headers: String::new(),
            body: "",
        },
        Request {
            method: "GET",
            target: "/.env",
            headers: String::new(),
            body: "",
        },
        // The deprecated (zombie) operation.
        Request {
            method: "GET",
            target: "/api/v1/books",
            headers: String::new(),
            body: "",
        },
        // Mass assignment with alice's key.
        Request {
            method: "POST",
            target: "/api/books",
            headers: format!("{json}x-api-key: {api_key}\r\n"),
            body: r#"{"title":"Dune","author":"Frank Herbert","discount":100}"#,
        },
        // alice reading another customer's record (BOLA).
        Request {
            method: "GET",
            target: "/api/users/2",
            headers: format!("authorization: Bearer {jwt}\r\n"),
            body: "",
        },
        // A request with no credential where one is required.
        Request {
            method: "POST",
            target: "/api/orders",
            headers: json.to_string(),
            body: r#"{"bookId":1,"quantity":1}"#,
        },
    ];
    let mut answered = 0;
    for r in &requests {
        if send(gateway, r).await.is_some() {
            answered += 1;
        }
    }
    answered
}

/// Sends one request on a new connection; the status, if answered.
async fn send(gateway: SocketAddr, r: &Request<'_>) -> Option<u16> {
    let mut stream = connect(gateway).await?;
    let head = format!(
        "{} {} HTTP/1.1\r\nhost: {gateway}\r\nuser-agent: moat-demo\r\n{}content-length: {}\r\nconnection: close\r\n\r\n",
        r.method,
        r.target,
        r.headers,
        r.body.len()
    );
    let exchange = async {
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(r.body.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let line = answer.split(|b| *b == b'\n').next()?;
        std::str::from_utf8(line)
            .ok()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

async fn connect(gateway: SocketAddr) -> Option<TcpStream> {
    if gateway.ip().is_loopback()
        && let Ok(socket) = TcpSocket::new_v4()
        && socket.bind(SocketAddr::new(SOURCE, 0)).is_ok()
        && let Ok(stream) = socket.connect(gateway).await
    {
        return Some(stream);
    }
    TcpStream::connect(gateway).await.ok()
}
