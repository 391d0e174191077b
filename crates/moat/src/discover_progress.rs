//! The progress line of `moat discover`: bytes read of each input, for
//! each pass, drawn on stderr only when stderr is a terminal (never in
//! pipes, logs or CI), and cleared when reading ends.
//!
//! Bytes are counted as the reader takes them ([`Counted`]), so progress
//! costs no second read of the file. A hand-written line rather than a
//! progress-bar crate: one line redrawn at most ten times a second is all
//! that is needed.

use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::state_cli::clean;

/// Redraws at most this often.
const INTERVAL: Duration = Duration::from_millis(100);

/// Width of the bar, in characters.
const BAR: usize = 24;

/// Which pass over the inputs is running, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub number: u8,
    pub of: u8,
    /// What the pass learns (`operations`, `profiles`).
    pub what: &'static str,
}

/// The progress line, or nothing when there is no terminal to draw on.
pub struct Progress {
    out: Option<Box<dyn Write>>,
    interval: Duration,
    label: String,
    total: u64,
    done: u64,
    drawn: Option<Instant>,
}

impl Progress {
    /// On stderr when it is a terminal; otherwise silent.
    pub fn stderr() -> Progress {
        let out: Option<Box<dyn Write>> = if io::stderr().is_terminal() {
            Some(Box::new(io::stderr()))
        } else {
            None
        };
        Progress::new(out, INTERVAL)
    }

    fn new(out: Option<Box<dyn Write>>, interval: Duration) -> Progress {
        Progress {
            out,
            interval,
            label: String::new(),
            total: 0,
            done: 0,
            drawn: None,
        }
    }

    /// Starts reading `path`, `total` bytes long, in `pass`.
    pub fn start(&mut self, pass: Pass, path: &Path, total: u64) {
        self.label = format!(
            "pass {}/{} ({}) {}",
            pass.number,
            pass.of,
            pass.what,
            clean(&path.display().to_string())
        );
        self.total = total;
        self.done = 0;
        self.drawn = None;
        self.draw();
    }

    /// Counts `n` more bytes read; redraws when the last drawing is old.
    fn advance(&mut self, n: usize) {
        self.done = self.done.saturating_add(n as u64);
        if self.out.is_some() && self.drawn.is_none_or(|t| t.elapsed() >= self.interval) {
            self.draw();
        }
    }

    /// Clears the line (reading is over, or output follows).
    pub fn finish(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = out.write_all(b"\r\x1b[2K");
            let _ = out.flush();
        }
    }

    fn draw(&mut self) {
        let Some(out) = &mut self.out else {
            return;
        };
        self.drawn = Some(Instant::now());
        let _ = out.write_all(line(&self.label, self.done, self.total).as_bytes());
        let _ = out.flush();
    }

    /// `reader`, counting into this line what is read through it.
    pub fn counted<R: Read>(&mut self, reader: R) -> Counted<'_, R> {
        Counted {
            inner: reader,
            progress: self,
        }
    }
}

/// The line for `done` bytes of `total`: `\r`, erase the line, then the
/// label, a bar, the megabytes and the percentage.
fn line(label: &str, done: u64, total: u64) -> String {
    let done = done.min(total);
    let share = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((share * BAR as f64) as usize).min(BAR);
    format!(
        "\r\x1b[2Kmoat discover: {label} [{}{}] {:.1}/{:.1} MB {:>3}%",
        "#".repeat(filled),
        "-".repeat(BAR - filled),
        done as f64 / 1e6,
        total as f64 / 1e6,
        (share * 100.0) as u32
    )
}

/// A reader whose bytes are counted into a [`Progress`].
pub struct Counted<'p, R> {
    inner: R,
    progress: &'p mut Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink the test can read after the progress line wrote to it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    const PASS: Pass = Pass {
        number: 2,
        of: 2,
        what: "profiles",
    };

    #[test]
    fn every_byte_read_is_counted_once_and_drawn() {
        let sink = Shared::default();
        let mut p = Progress::new(Some(Box::new(sink.clone())), Duration::ZERO);
        let data = vec![7u8; 3_000_000];
        p.start(PASS, Path::new("capture.har"), data.len() as u64);
        let mut copied = Vec::new();
        let mut reader = io::BufReader::with_capacity(1_000_000, p.counted(data.as_slice()));
        io::copy(&mut reader, &mut copied).unwrap();
        assert_eq!(copied.len(), data.len());
        assert_eq!(p.done, 3_000_000);
        p.finish();
        let text = sink.text();
        assert!(
            text.starts_with("\r\x1b[2Kmoat discover: pass 2/2 (profiles) capture.har [------------------------] 0.0/3.0 MB   0%"),
            "{text:?}"
        );
        assert!(
            text.contains("[########----------------] 1.0/3.0 MB  33%"),
            "{text:?}"
        );
        assert!(
            text.contains("[########################] 3.0/3.0 MB 100%"),
            "{text:?}"
        );
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
    }

    #[test]
    fn redraws_are_spaced_and_without_a_terminal_nothing_is_drawn() {
        let sink = Shared::default();
        let mut p = Progress::new(Some(Box::new(sink.clone())), Duration::from_secs(3600));
        p.start(PASS, Path::new("a.jsonl"), 100);
        for _ in 0..100 {
            p.advance(1);
        }
        assert_eq!(sink.text().matches('\r').count(), 1, "{:?}", sink.text());
        let mut silent = Progress::new(None, Duration::ZERO);
        silent.start(PASS, Path::new("a.jsonl"), 10);
        silent.advance(10);
        silent.finish();
        assert_eq!(silent.done, 10);
    }

    #[test]
    fn a_name_cannot_move_the_cursor() {
        let sink = Shared::default();
        let mut p = Progress::new(Some(Box::new(sink.clone())), Duration::ZERO);
        p.start(PASS, Path::new("a\u{1b}[2Jb.har"), 0);
        let text = sink.text();
        assert_eq!(text.matches('\u{1b}').count(), 1, "{text:?}");
        assert!(text.contains("a\\u{1b}[2Jb.har"), "{text:?}");
    }
}
