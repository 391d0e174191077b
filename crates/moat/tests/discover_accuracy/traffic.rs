//! Traffic: a seeded random mix of calls, sent for real, each exchange
//! written down as a HAR entry (the request as sent, the answer as it
//! came back).

use futures_util::{StreamExt, stream};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// A small seeded generator (SplitMix64): the same traffic every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Skewed towards the start of `0..n`: a few items are popular, the
    /// rest a long tail.
    pub fn popular(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * n as f64) as usize % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index into `weights`, in proportion to them.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = (self.next() % u64::from(total)) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap())
            .collect()
    }

    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..]
        )
    }
}

/// What a path segment keeps of itself in a URL: letters, digits and
/// `-._~@`; the rest (spaces, quotes, `+`, …) percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// `value` as one path segment.
pub fn seg(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// One request to make.
pub struct Call {
    pub method: &'static str,
    /// Path and query, already encoded.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Call {
    pub fn new(method: &'static str, target: impl Into<String>) -> Call {
        Call {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Call {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }
}

/// Sends `calls` to `base` (a few at a time, as concurrent users do) and
/// returns one HAR entry per exchange, in the order of `calls`.
pub async fn record(client: &reqwest::Client, base: &str, calls: Vec<Call>) -> Vec<Value> {
    stream::iter(calls)
        .map(|call| exchange(client, base, call))
        .buffered(8)
        .collect()
        .await
}

async fn exchange(client: &reqwest::Client, base: &str, call: Call) -> Value {
    let url = format!("{base}{}", call.target);
    let mut req = client.request(call.method.parse().unwrap(), &url);
    let mut headers: Vec<(String, String)> = call.headers.clone();
    for (name, value) in &call.headers {
        req = req.header(name, value);
    }
    let body_text = call.body.as_ref().map(Value::to_string);
    if let Some(text) = &body_text {
        req = req
            .header("content-type", "application/json")
            .body(text.clone());
        headers.push(("content-type".into(), "application/json".into()));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let resp_headers: Vec<Value> = resp
        .headers()
        .iter()
        .map(|(n, v)| json!({"name": n.as_str(), "value": v.to_str().unwrap_or("")}))
        .collect();
    let mime = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap();
    let query = call.target.split_once('?').map_or("", |(_, q)| q);
    let query_string: Vec<Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": n, "value": v})
        })
        .collect();
    let mut request = json!({
        "method": call.method, "url": url, "httpVersion": "HTTP/1.1",
        "headers": headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "queryString": query_string, "cookies": [], "headersSize": -1, "bodySize": -1,
    });
    if let Some(text) = body_text {
        request["postData"] = json!({"mimeType": "application/json", "text": text});
    }
    json!({
        "startedDateTime": "2026-12-05T12:00:00.000Z", "time": 1,
        "request": request,
        "response": {
            "status": status, "statusText": "", "httpVersion": "HTTP/1.1",
            "headers": resp_headers, "cookies": [],
            "content": {"size": text.len(), "mimeType": mime, "text": text},
            "redirectURL": "", "headersSize": -1, "bodySize": -1,
        },
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
    })
}

/// A HAR document of `entries`.
pub fn har(entries: &[Value]) -> String {
    json!({"log": {"version": "1.2", "creator": {"name": "moat tests", "version": "1"}, "entries": entries}})
        .to_string()
}
