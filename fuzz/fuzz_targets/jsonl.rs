//! Discovery's log reader, `read_jsonl_with`, on the input as a JSON-lines
//! access log (moat's own or another server's), with small limits (lines
//! over 256 bytes skipped, bodies over 64 bytes dropped). The first byte,
//! when odd, makes the callback stop after the first sample.
//!
//! Properties: every sample has an HTTP method token and an origin-form
//! URL, a status from 100 to 599 when it has one, and bodies within the
//! limit; every line read is either blank, a sample or skipped, exactly
//! once (unless reading stopped early); the first kept skip reasons point
//! at lines that exist.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use moat_discover::input::{MAX_SKIP_REASONS, ReadLimits, read_jsonl_with};

#[path = "samples.rs"]
mod samples;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, log)) = data.split_first() else {
        return;
    };
    let limits = ReadLimits {
        max_body_bytes: 64,
        max_line_bytes: 256,
    };
    let stop = mode % 2 == 1;
    let mut delivered = 0u64;
    let read = read_jsonl_with(log, limits, |s| {
        samples::check(&s, &limits);
        delivered += 1;
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let stats = read.expect("reading from memory cannot fail");
    assert_eq!(stats.samples, delivered);
    assert_eq!(stats.stopped_early, stop && delivered > 0, "{stats:?}");
    if !stats.stopped_early {
        assert_eq!(
            stats.blank + stats.samples + stats.skipped.count,
            stats.lines,
            "{stats:?}"
        );
    }
    assert!(stats.skipped.first.len() <= MAX_SKIP_REASONS);
    for s in &stats.skipped.first {
        assert!(
            s.at >= 1 && s.at <= stats.lines,
            "{s:?} of {} lines",
            stats.lines
        );
    }
});
