use std::ops::ControlFlow;

use super::*;
use crate::input::Skipped;

fn read(log: &str, limits: ReadLimits) -> (Vec<Sample>, JsonlStats) {
    let mut samples = Vec::new();
    let stats = read_jsonl_with(log.as_bytes(), limits, |sample| {
        samples.push(sample);
        ControlFlow::Continue(())
    })
    .unwrap();
    (samples, stats)
}

fn target(sample: &Sample) -> (&str, &str, Option<u16>) {
    (sample.method.as_str(), sample.url.as_str(), sample.status)
}

#[test]
fn moat_access_log_lines_are_read() {
    let log = concat!(
        r#"{"time":"2026-12-01T10:00:00.000Z","request_id":"a1","client":"10.0.0.1","method":"GET","path":"/api/books/42","api":"books","operation":"getBook","status":200,"upstream_ms":3,"total_ms":4,"verdict":"allowed","finding":null,"consumer":null}"#,
        "\n",
        r#"{"time":"2026-12-01T10:00:01.000Z","request_id":"a2","client":"10.0.0.1","method":"GET","path":"/api/nope","api":"books","operation":"-","status":404,"upstream_ms":null,"total_ms":0,"verdict":"denied","finding":"undocumented","consumer":null}"#,
        "\n",
        r#"{"time":"2026-12-01T10:00:02.000Z","request_id":"a3","client":"10.0.0.1","method":"POST","path":"/api/books","api":"books","operation":"createBook","status":201,"upstream_ms":5,"total_ms":6,"verdict":"monitored","finding":"schema","consumer":"c1"}"#,
        "\n",
    );
    let (samples, stats) = read(log, ReadLimits::default());
    assert_eq!(stats.lines, 3);
    assert_eq!(stats.samples, 3);
    assert_eq!(stats.skipped.count, 0);
    assert_eq!(
        samples.iter().map(target).collect::<Vec<_>>(),
        [
            ("GET", "/api/books/42", Some(200)),
            ("GET", "/api/nope", None),
            ("POST", "/api/books", Some(201)),
        ],
        "a line the gateway answered itself has no API status"
    );
    assert!(
        samples
            .iter()
            .all(|s| s.request_headers.is_empty() && s.response_body.is_none())
    );
}

#[test]
fn generic_lines_with_url_or_path_and_status_are_read() {
    let log = "\u{feff}{\"method\":\"GET\",\"url\":\"https://api.example.com/v2/users?page=3\",\"status\":200}\r\n\
        {\"method\":\"PATCH\",\"url\":\"/v2/users/7?x=1\",\"status\":\"204\"}\n\
        \n   \n\
        {\"method\":\"GET\",\"path\":\"/health\"}\n\
        {\"method\":\"GET\",\"path\":\"/p\",\"url\":\"/u\",\"status\":200}";
    let (samples, stats) = read(log, ReadLimits::default());
    assert_eq!(stats.lines, 6);
    assert_eq!(stats.blank, 2);
    assert_eq!(stats.samples, 4);
    assert_eq!(
        samples.iter().map(target).collect::<Vec<_>>(),
        [
            ("GET", "/v2/users?page=3", Some(200)),
            ("PATCH", "/v2/users/7?x=1", Some(204)),
            ("GET", "/health", None),
            ("GET", "/p", Some(200)),
        ]
    );
}

#[test]
fn malformed_lines_are_skipped_with_their_number_and_reason() {
    let log = [
        r#"{"method":"GET","path":"/ok","status":200}"#,
        r#"not json at all Bearer abc.def"#,
        r#"["GET","/x"]"#,
        r#"{"path":"/x","status":200}"#,
        r#"{"method":"GET","status":200}"#,
        r#"{"method":"GET","path":"/x","status":700}"#,
        r#"{"method":"GET","path":"/x","status":"ok"}"#,
        r#"{"method":"GET","path":"/x","status":true}"#,
        r#"{"method":7,"path":"/x"}"#,
        r#"{"method":"GET","path":["/x"]}"#,
        r#"{"method":"GET","url":"example.com/x"}"#,
        r#"{"method":"GET","path":"/ok2","status":200}"#,
        r#"{"method":"GET","path":"/x""#,
    ]
    .join("\n");
    let (samples, stats) = read(&log, ReadLimits::default());
    assert_eq!(
        samples.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(),
        ["/ok", "/ok2"]
    );
    let expected = [
        (2, SkipReason::NotJson),
        (3, SkipReason::NotAnObject),
        (4, SkipReason::Missing("method")),
        (5, SkipReason::Missing("path")),
        (6, SkipReason::BadStatus),
        (7, SkipReason::BadStatus),
        (8, SkipReason::WrongType("status")),
        (9, SkipReason::WrongType("method")),
        (10, SkipReason::WrongType("path")),
        (11, SkipReason::BadUrl),
        (13, SkipReason::NotJson),
    ]
    .map(|(at, reason)| Skipped { at, reason });
    assert_eq!(stats.skipped.first, expected);
    assert_eq!(stats.skipped.count, 11);
}

#[test]
fn a_line_over_the_limit_is_skipped_without_being_kept() {
    let limits = ReadLimits {
        max_line_bytes: 64,
        ..ReadLimits::default()
    };
    let long = format!(
        r#"{{"method":"GET","path":"/{}","status":200}}"#,
        "a".repeat(500)
    );
    let log = format!("{long}\n{{\"method\":\"GET\",\"path\":\"/after\"}}\n");
    // A tiny buffer, so the long line arrives in many pieces.
    let mut samples = Vec::new();
    let stats = read_jsonl_with(
        std::io::BufReader::with_capacity(8, log.as_bytes()),
        limits,
        |s| {
            samples.push(s);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(
        stats.skipped.first,
        [Skipped {
            at: 1,
            reason: SkipReason::TooLong
        }]
    );
    assert_eq!(
        samples.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(),
        ["/after"]
    );
}

#[test]
fn the_callback_can_stop_the_read() {
    let log = (0..10)
        .map(|i| format!("{{\"method\":\"GET\",\"path\":\"/n/{i}\"}}\n"))
        .collect::<String>();
    let mut seen = 0;
    let stats = read_jsonl(log.as_bytes(), |_| {
        seen += 1;
        if seen == 4 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert!(stats.stopped_early);
    assert_eq!((stats.lines, stats.samples), (4, 4));
}

#[test]
fn read_errors_are_reported() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    let result = read_jsonl(std::io::BufReader::new(Failing), |_| {
        ControlFlow::Continue(())
    });
    assert!(matches!(result, Err(InputError::Io(_))), "{result:?}");
}
