//! `listeners[].backlog` sets the kernel's accept queue of the listening
//! socket, as `ss -ltn` shows it (`Send-Q` of a listening socket).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::process::Command;

use support::*;

/// The backlog of the socket listening on `addr`, read with ss(8).
fn backlog(addr: SocketAddr) -> u32 {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss(8) from iproute2 (scripts/test.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&addr.to_string()))
        .unwrap_or_else(|| panic!("no listening socket on {addr}: {text}"));
    // State Recv-Q Send-Q Local Peer
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_backlog_setting_and_its_default_reach_the_socket() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = config("http://127.0.0.1:9", "").replacen(
        "  - bind: 127.0.0.1:0\n",
        "  - bind: 127.0.0.1:0\n    backlog: 77\n  - bind: 127.0.0.1:0\n",
        1,
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    assert_eq!(moat.addrs.len(), 2);
    assert_eq!(backlog(moat.addrs[0]), 77);
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(backlog(moat.addrs[1]), 1024.min(somaxconn));
}

#[test]
fn a_backlog_out_of_range_is_refused() {
    let err = check_fails_with_listener("    backlog: 0\n");
    assert!(err.contains("backlog must be between 1 and 65535"), "{err}");
    let err = check_fails_with_listener("    backlog: 70000\n");
    assert!(err.contains("backlog must be between 1 and 65535"), "{err}");
}

fn check_fails_with_listener(lines: &str) -> String {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener("http://127.0.0.1:9", lines, ""),
    );
    check_fails(dir.path())
}
