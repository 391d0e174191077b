//! Discovery's HAR reader, `read_har_with`, on the input as a HAR file,
//! with small limits (bodies over 64 bytes dropped). The first byte, when
//! odd, makes the callback stop after the first sample.
//!
//! Properties: every sample has an HTTP method token and an origin-form
//! URL, a status from 100 to 599 when it has one, and bodies within the
//! limit; the statistics count exactly the samples delivered and no more
//! entries than were read; stopping early is reported as such.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use moat_discover::input::{ReadLimits, read_har_with};

#[path = "samples.rs"]
mod samples;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, har)) = data.split_first() else {
        return;
    };
    let limits = ReadLimits {
        max_body_bytes: 64,
        max_line_bytes: 1024,
    };
    let stop = mode % 2 == 1;
    let mut delivered = 0u64;
    let read = read_har_with(har, limits, |s| {
        samples::check(&s, &limits);
        delivered += 1;
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match read {
        Ok(stats) => {
            assert_eq!(stats.samples, delivered);
            assert!(
                stats.samples + stats.skipped.count <= stats.entries,
                "{stats:?}"
            );
            assert_eq!(stats.stopped_early, stop && delivered > 0, "{stats:?}");
            assert!(delivered <= 1 || !stop);
        }
        Err(e) => {
            assert!(!stop || delivered == 0, "stopping early is not an error");
            let _ = e.to_string();
        }
    }
});
