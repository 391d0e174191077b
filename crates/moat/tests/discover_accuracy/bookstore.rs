//! The demo bookstore (`moat demo`: the gateway in front of it), with its
//! own document: numeric ids, notes named by free-text titles, a login,
//! a deprecated `/v1`, an API key and JWTs.

use serde_json::json;

use super::traffic::{Call, Rng, seg};

/// The bookstore's document.
pub const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/bookstore/openapi.yaml"
);

/// What the demo's guide hands out: alice's API key, alice's and bob's
/// JWTs.
pub struct Credentials {
    pub key: String,
    pub alice: String,
    pub bob: String,
}

impl Credentials {
    /// Read from the demo's guide.
    pub fn from_guide(guide: &str) -> Credentials {
        let key = guide
            .split_whitespace()
            .find(|w| w.starts_with("moat_"))
            .unwrap()
            .trim_matches('\'')
            .to_string();
        let bearer = |marker: &str| {
            let line = guide.lines().find(|l| l.contains(marker)).unwrap();
            let rest = &line[line.find("Bearer ").unwrap() + "Bearer ".len()..];
            rest[..rest.find('\'').unwrap()].to_string()
        };
        Credentials {
            key,
            alice: bearer("# 200: her own order"),
            bob: bearer("bob reading alice's order"),
        }
    }
}

const NOTES: &[&str] = &[
    "Reading list",
    "Dune notes",
    "It's late",
    "Plans for 2027",
    "Gifts",
    "alice-plans",
    "To \"re-read\"",
    "Summer 2026",
    "book-club",
    "Quotes I like",
    "Don't lend",
    "Wishlist",
];

const SEARCH: &[&str] = &["dune", "rust", "data", "programming", "herbert", "design"];

/// `n` calls through the gateway: the catalogue often, books by id (a
/// few popular, a long tail, some missing), users, orders, notes by
/// title, logins, the old `/v1` list, mistakes.
pub fn plan(creds: &Credentials, rng: &mut Rng, n: usize) -> Vec<Call> {
    let weights = [
        14, // list books
        3,  // create book
        20, // get book
        1,  // delete book
        6,  // get user
        3,  // create order
        5,  // get order
        2,  // create note
        6,  // get note
        2,  // login
        2,  // v1 books
    ];
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        let (who, token) = if rng.chance(70) {
            ("alice", &creds.alice)
        } else {
            ("bob", &creds.bob)
        };
        let bearer = format!("Bearer {token}");
        let book = 1 + rng.popular(40);
        let call = match rng.weighted(&weights) {
            0 => {
                let mut q = Vec::new();
                if rng.chance(40) {
                    q.push(format!("limit={}", 1 + rng.below(50)));
                }
                if rng.chance(30) {
                    q.push(format!("q={}", rng.pick(SEARCH)));
                }
                if q.is_empty() {
                    Call::new("GET", "/api/books")
                } else {
                    Call::new("GET", format!("/api/books?{}", q.join("&")))
                }
            }
            1 => {
                let body = if rng.chance(80) {
                    json!({"title": format!("Volume {}", rng.below(500)), "author": "Frank Herbert"})
                } else {
                    json!({"title": "no author"})
                };
                Call::new("POST", "/api/books")
                    .header("x-api-key", creds.key.clone())
                    .json(body)
            }
            2 => Call::new("GET", format!("/api/books/{book}")),
            3 => Call::new("DELETE", format!("/api/books/{}", 100 + rng.below(400)))
                .header("x-api-key", creds.key.clone()),
            4 => Call::new("GET", format!("/api/users/{}", 1 + rng.popular(12)))
                .header("authorization", bearer),
            5 => Call::new("POST", "/api/orders")
                .header("authorization", bearer)
                .json(json!({"bookId": 1 + rng.below(3), "quantity": 1 + rng.below(3)})),
            6 => Call::new("GET", format!("/api/orders/{}", 1 + rng.popular(30)))
                .header("authorization", bearer),
            7 => Call::new("POST", "/api/notes")
                .header("authorization", bearer)
                .json(json!({"title": rng.pick(NOTES), "text": "read it again"})),
            8 => Call::new(
                "GET",
                format!("/api/notes/{}", seg(NOTES[rng.popular(NOTES.len())])),
            )
            .header("authorization", bearer),
            9 => {
                let password = if rng.chance(70) {
                    "wonderland"
                } else {
                    "guess"
                };
                Call::new("POST", "/api/login").json(json!({"username": who, "password": password}))
            }
            _ => Call::new("GET", "/api/v1/books"),
        };
        calls.push(call);
    }
    calls
}
