//! Opening one connection to Redis.
//!
//! Plain TCP connections are opened here rather than by the Redis client,
//! so the socket can be checked before use: on Linux, connecting to a free
//! port of the ephemeral range on the same host can pick that very port as
//! the local one and connect the socket to itself (a TCP "simultaneous
//! open"). Such a socket echoes every command back as its answer and holds
//! the port the restarted Redis needs; it is closed and the attempt fails,
//! to be retried with backoff. TLS and Unix socket connections are opened
//! by the client (a TLS handshake with itself fails on its own).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, ConnectionAddr, RedisError};
use tokio::net::TcpStream;

/// One new multiplexed connection (`AUTH` and `SELECT` done), each step
/// bounded by `timeout`. Its driver runs on the current runtime.
pub(crate) async fn dial(
    client: &Client,
    timeout: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let info = client.get_connection_info();
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return client
            .get_multiplexed_async_connection_with_config(&config)
            .await;
    };
    let stream = connect_tcp(host, *port).await?;
    let (conn, driver) =
        MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
    tokio::spawn(driver);
    Ok(conn)
}

/// The first address of `host` that accepts a connection that is not
/// connected to itself.
async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await.and_then(refuse_self_connect) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("`{host}` resolves to no address"),
        )
    }))
}

/// The stream, unless its two ends are the same address (then it is
/// closed).
pub(crate) fn refuse_self_connect(stream: TcpStream) -> io::Result<TcpStream> {
    let local: SocketAddr = stream.local_addr()?;
    if stream.peer_addr()? == local {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("the connection to {local} reached itself: nothing listens there"),
        ));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket bound to a port and connected to that same port connects
    /// to itself on Linux, exactly what an unlucky ephemeral port does.
    async fn self_connected() -> TcpStream {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(addr).unwrap();
        socket.connect(addr).await.unwrap()
    }

    #[tokio::test]
    async fn a_socket_connected_to_itself_is_refused() {
        let stream = self_connected().await;
        let addr = stream.local_addr().unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        let e = refuse_self_connect(stream).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("itself"), "{e}");
    }

    #[tokio::test]
    async fn a_socket_connected_to_a_listener_is_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert!(refuse_self_connect(stream).is_ok());
    }
}
