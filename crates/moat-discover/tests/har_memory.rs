//! Reading a large HAR keeps memory bounded: the file is streamed, not
//! loaded. Alone in its test binary so that no other test moves the
//! process's peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs::File;
use std::io::BufWriter;
use std::ops::ControlFlow;

use moat_discover::input::read_har;

const MIB: u64 = 1024 * 1024;

/// The process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    kib * 1024
}

#[test]
fn a_large_har_is_read_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traffic.har");
    let size = 64 * MIB;
    let written = {
        let mut out = BufWriter::new(File::create(&path).unwrap());
        support::har::write_har(&mut out, size).unwrap()
    };
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert!(on_disk >= size, "{on_disk} bytes written");

    let before = peak_rss();
    let mut bodies = 0u64;
    let mut urls = 0u64;
    let stats = read_har(File::open(&path).unwrap(), |sample| {
        bodies += u64::from(sample.response_body.is_some());
        urls += sample.url.len() as u64;
        ControlFlow::Continue(())
    })
    .unwrap();
    let growth = peak_rss().saturating_sub(before);

    assert_eq!(stats.entries, written);
    assert_eq!(stats.samples, written);
    assert_eq!(stats.skipped.count, 0);
    assert_eq!(
        bodies, written,
        "every generated entry has a JSON answer, base64 ones included"
    );
    assert!(urls > 0);
    // The file is 64 MiB; holding it (let alone as a parsed tree) would
    // grow the peak by at least that much.
    assert!(
        growth < 8 * MIB,
        "reading {} MiB grew the peak resident set by {} KiB",
        on_disk / MIB,
        growth / 1024
    );
}
