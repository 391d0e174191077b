//! "community": a forum whose ids are words people chose: usernames
//! beside `/users/me` and `/users/search`, post slugs, wiki titles with
//! spaces and quotes, tags, emails; an API key in a header or a session
//! cookie, basic auth on the login.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::json;

use super::server::{Reply, Req};
use super::traffic::{Call, Rng, seg};

/// The API's true document.
pub const DOC: &str = r##"
openapi: 3.1.0
info: {title: Community, version: "1.0.0"}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
    session: {type: apiKey, in: cookie, name: session}
    basic: {type: http, scheme: basic}
  parameters:
    Username: {name: username, in: path, required: true, schema: {type: string}}
    Slug: {name: slug, in: path, required: true, schema: {type: string}}
    Title: {name: title, in: path, required: true, schema: {type: string}}
    Page: {name: page, in: query, schema: {type: integer}}
security: [{key: []}, {session: []}]
paths:
  /login:
    post:
      security: [{basic: []}]
      responses: {"200": {description: a session}, "401": {description: refused}}
  /_debug/vars:
    get:
      responses: {"200": {description: runtime variables}}
  /feed:
    get:
      parameters:
        - $ref: "#/components/parameters/Page"
        - {name: since, in: query, schema: {type: string, format: date}}
      responses: {"200": {description: the caller's feed}}
  /users/me:
    get:
      responses: {"200": {description: the caller}}
    patch:
      requestBody:
        content: {application/json: {schema: {type: object, properties: {bio: {type: string}}}}}
      responses: {"200": {description: updated}}
  /users/search:
    get:
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer}}
      responses: {"200": {description: matching users}}
  /users/{username}:
    parameters: [{$ref: "#/components/parameters/Username"}]
    get:
      responses: {"200": {description: a profile}, "404": {description: none}}
  /users/{username}/posts:
    parameters: [{$ref: "#/components/parameters/Username"}]
    get:
      parameters: [{$ref: "#/components/parameters/Page"}]
      responses: {"200": {description: their posts}, "404": {description: none}}
  /users/{username}/followers:
    parameters: [{$ref: "#/components/parameters/Username"}]
    get:
      responses: {"200": {description: their followers}, "404": {description: none}}
  /posts:
    get:
      parameters:
        - {name: tag, in: query, schema: {type: string}}
        - {name: sort, in: query, schema: {type: string, enum: [new, top]}}
        - $ref: "#/components/parameters/Page"
      responses: {"200": {description: posts}}
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [title, body]
              properties: {title: {type: string}, body: {type: string}, tags: {type: array, items: {type: string}}}
      responses: {"201": {description: created}, "422": {description: invalid}}
  /posts/{slug}:
    parameters: [{$ref: "#/components/parameters/Slug"}]
    get:
      responses: {"200": {description: a post}, "404": {description: none}}
    put:
      requestBody:
        content: {application/json: {schema: {type: object, properties: {body: {type: string}}}}}
      responses: {"200": {description: replaced}, "404": {description: none}}
    delete:
      responses: {"204": {description: deleted}, "404": {description: none}}
  /posts/{slug}/comments:
    parameters: [{$ref: "#/components/parameters/Slug"}]
    get:
      parameters: [{$ref: "#/components/parameters/Page"}]
      responses: {"200": {description: comments}, "404": {description: none}}
    post:
      requestBody:
        content: {application/json: {schema: {type: object, required: [text], properties: {text: {type: string}}}}}
      responses: {"201": {description: created}, "422": {description: invalid}}
  /wiki/{title}:
    parameters: [{$ref: "#/components/parameters/Title"}]
    get:
      responses: {"200": {description: a page}, "404": {description: none}}
    put:
      requestBody:
        content: {application/json: {schema: {type: object, properties: {text: {type: string}}}}}
      responses: {"200": {description: saved}}
  /tags/{tag}:
    get:
      parameters: [{name: tag, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: the tag's posts}}
  /subscriptions/{email}:
    parameters: [{name: email, in: path, required: true, schema: {type: string, format: email}}]
    get:
      responses: {"200": {description: a subscription}, "404": {description: none}}
    delete:
      responses: {"204": {description: unsubscribed}, "404": {description: none}}
"##;

const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda",
];
const WORDS: &[&str] = &[
    "rust",
    "async",
    "web",
    "database",
    "tips",
    "tricks",
    "first",
    "post",
    "release",
    "notes",
    "guide",
    "deep",
    "dive",
    "why",
    "how",
    "we",
    "moved",
    "to",
    "kubernetes",
    "testing",
    "errors",
    "performance",
    "memory",
    "safety",
];
const TITLES: &[&str] = &[
    "Main Page",
    "Getting Started",
    "It's Not a Bug",
    "The \"Quoted\" Title",
    "Rust",
    "Code of Conduct",
    "FAQ",
    "Release Notes 2026",
    "Don't Panic",
    "C++ Interop",
    "Style Guide",
    "glossary",
    "What's New?",
    "Async & Await",
];
const TAGS: &[&str] = &[
    "rust", "async", "web", "db", "wasm", "cli", "embedded", "gamedev", "security", "testing",
    "release", "help", "meta", "jobs", "showcase", "news",
];

/// What the API holds, and what its clients know of it.
pub struct Data {
    users: Vec<String>,
    slugs: Vec<String>,
    keys: Vec<String>,
}

impl Data {
    pub fn new(rng: &mut Rng) -> Data {
        let mut users = BTreeSet::new();
        while users.len() < 80 {
            let first = rng.pick(FIRST);
            let name = match rng.below(5) {
                0 => first.to_string(),
                1 => format!("{first}{}", rng.below(100)),
                2 => format!("{first}_{}", rng.pick(WORDS)),
                3 => format!("{}{}", first[..1].to_uppercase(), &first[1..]),
                _ => format!("{first}-{}", rng.pick(WORDS)),
            };
            users.insert(name);
        }
        let mut users: Vec<String> = users.into_iter().collect();
        // The popular ones first, in a seeded order.
        for i in (1..users.len()).rev() {
            users.swap(i, rng.below(i + 1));
        }
        let mut slugs = BTreeSet::new();
        while slugs.len() < 70 {
            let n = 2 + rng.below(4);
            let words: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
            let mut slug = words.join("-");
            if rng.chance(20) {
                slug.push_str(&format!("-{}", rng.below(10)));
            }
            slugs.insert(slug);
        }
        let mut slugs: Vec<String> = slugs.into_iter().collect();
        for i in (1..slugs.len()).rev() {
            slugs.swap(i, rng.below(i + 1));
        }
        let keys = (0..30)
            .map(|_| format!("ck_live_{}", rng.hex(24)))
            .collect();
        Data { users, slugs, keys }
    }
}

/// The API's handler.
pub fn handler(data: &Data) -> impl Fn(Req) -> Reply + Send + Sync + 'static {
    let users: BTreeSet<String> = data.users.iter().cloned().collect();
    let keys = data.keys.clone();
    let slugs = Mutex::new(data.slugs.iter().cloned().collect::<BTreeSet<String>>());
    move |req: Req| {
        let s = req.seg();
        let method = req.method.as_str();
        if (method, s.as_slice()) == ("POST", &["login"][..]) {
            return match req.header("authorization") {
                Some(h) if h.starts_with("Basic ") => Reply::json(200, json!({"ok": true}))
                    .with_header("set-cookie", format!("session={}; HttpOnly", keys[0])),
                _ => Reply::problem(401, "credentials required"),
            };
        }
        let key = req.header("x-api-key").or_else(|| {
            req.header("cookie")
                .and_then(|c| c.split("; ").find_map(|p| p.strip_prefix("session=")))
        });
        if !key.is_some_and(|k| keys.iter().any(|x| x == k)) {
            return Reply::problem(401, "API key required");
        }
        let user = |name: &str| json!({"username": name, "karma": name.len() * 7});
        match (method, s.as_slice()) {
            ("GET", ["_debug", "vars"]) => Reply::json(200, json!({"goroutines": 12})),
            ("GET", ["feed"]) => Reply::json(200, json!({"items": [], "page": 1})),
            ("GET", ["users", "me"]) => Reply::json(200, user("me")),
            ("PATCH", ["users", "me"]) => Reply::json(200, user("me")),
            ("GET", ["users", "search"]) => {
                let q = req.query("q").unwrap_or("");
                let found: Vec<_> = users.iter().filter(|u| u.contains(q)).take(5).collect();
                Reply::json(200, json!({"items": found}))
            }
            ("GET", ["users", name, rest @ ..]) if users.contains(*name) => match rest {
                [] => Reply::json(200, user(name)),
                ["posts"] => Reply::json(200, json!({"items": [{"slug": "a-post"}]})),
                ["followers"] => Reply::json(200, json!({"items": [user("bob")]})),
                _ => Reply::problem(404, "not found"),
            },
            ("GET", ["users", ..]) => Reply::problem(404, "no such user"),
            ("GET", ["posts"]) => Reply::json(200, json!({"items": [{"slug": "a-post"}]})),
            ("POST", ["posts"]) => match &req.body {
                Some(Ok(b)) if b["title"].is_string() && b["body"].is_string() => {
                    let slug = b["title"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .replace(' ', "-");
                    slugs.lock().unwrap().insert(slug.clone());
                    Reply::json(201, json!({"slug": slug}))
                }
                _ => Reply::problem(422, "title and body required"),
            },
            (_, ["posts", slug, rest @ ..]) => {
                if !slugs.lock().unwrap().contains(*slug) {
                    return Reply::problem(404, "no such post");
                }
                match (method, rest) {
                    ("GET", []) => Reply::json(200, json!({"slug": slug, "title": "A post"})),
                    ("PUT", []) => Reply::json(200, json!({"slug": slug})),
                    ("DELETE", []) => Reply::empty(204),
                    ("GET", ["comments"]) => Reply::json(200, json!({"items": [{"text": "+1"}]})),
                    ("POST", ["comments"]) => match &req.body {
                        Some(Ok(b)) if b["text"].is_string() => {
                            Reply::json(201, json!({"text": b["text"]}))
                        }
                        _ => Reply::problem(422, "text required"),
                    },
                    _ => Reply::problem(405, "method not allowed"),
                }
            }
            ("GET", ["wiki", title]) => match TITLES.contains(title) {
                true => Reply::json(200, json!({"title": title, "text": "…"})),
                false => Reply::problem(404, "no such page"),
            },
            ("PUT", ["wiki", title]) => Reply::json(200, json!({"title": title})),
            ("GET", ["tags", tag]) => Reply::json(200, json!({"tag": tag, "items": []})),
            (_, ["subscriptions", email]) if email.contains('@') => match method {
                "GET" => Reply::json(200, json!({"email": email, "digest": "weekly"})),
                "DELETE" => Reply::empty(204),
                _ => Reply::problem(405, "method not allowed"),
            },
            _ => Reply::problem(404, "not found"),
        }
    }
}

/// `n` calls: many users, popular profiles and posts often, a long tail,
/// searches and filters, writes and mistakes.
pub fn plan(data: &Data, rng: &mut Rng, n: usize) -> Vec<Call> {
    let weights = [
        2,  // login
        1,  // debug vars
        8,  // feed
        8,  // me
        1,  // patch me
        4,  // search
        14, // user
        5,  // user's posts
        3,  // followers
        8,  // posts
        2,  // new post
        14, // post
        1,  // put post
        1,  // delete post
        6,  // comments
        2,  // new comment
        6,  // wiki page
        1,  // wiki edit
        4,  // tag
        2,  // subscription
        1,  // unsubscribe
    ];
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        let key = data.keys[rng.popular(data.keys.len())].clone();
        let username = if rng.chance(4) {
            format!("ghost{}", rng.below(1000))
        } else {
            data.users[rng.popular(data.users.len())].clone()
        };
        let slug = if rng.chance(4) {
            format!("no-such-post-{}", rng.below(1000))
        } else {
            data.slugs[rng.popular(data.slugs.len())].clone()
        };
        let email = format!(
            "{}@{}",
            data.users[rng.below(data.users.len())].to_lowercase(),
            rng.pick(&["example.com", "mail.example.org", "corp.example"])
        );
        let page = 1 + rng.below(5);
        let call = match rng.weighted(&weights) {
            0 => Call::new("POST", "/login")
                .header("authorization", format!("Basic dXNlcjp{}", rng.hex(8))),
            1 => Call::new("GET", "/_debug/vars"),
            2 => match rng.below(3) {
                0 => Call::new("GET", "/feed"),
                1 => Call::new("GET", format!("/feed?page={page}")),
                _ => Call::new(
                    "GET",
                    format!(
                        "/feed?since=2026-{:02}-{:02}",
                        9 + rng.below(3),
                        1 + rng.below(28)
                    ),
                ),
            },
            3 => Call::new("GET", "/users/me"),
            4 => Call::new("PATCH", "/users/me").json(json!({"bio": "I write Rust"})),
            5 => {
                let q = &username[..username.len().min(3)];
                match rng.below(2) {
                    0 => Call::new("GET", format!("/users/search?q={}", seg(q))),
                    _ => Call::new(
                        "GET",
                        format!(
                            "/users/search?q={}&limit={}",
                            seg(q),
                            5 * (1 + rng.below(4))
                        ),
                    ),
                }
            }
            6 => Call::new("GET", format!("/users/{}", seg(&username))),
            7 => match rng.below(2) {
                0 => Call::new("GET", format!("/users/{}/posts", seg(&username))),
                _ => Call::new(
                    "GET",
                    format!("/users/{}/posts?page={page}", seg(&username)),
                ),
            },
            8 => Call::new("GET", format!("/users/{}/followers", seg(&username))),
            9 => {
                let mut q = Vec::new();
                if rng.chance(40) {
                    q.push(format!("tag={}", TAGS[rng.popular(TAGS.len())]));
                }
                if rng.chance(40) {
                    q.push(format!("sort={}", rng.pick(&["new", "top"])));
                }
                if rng.chance(40) {
                    q.push(format!("page={page}"));
                }
                if q.is_empty() {
                    Call::new("GET", "/posts")
                } else {
                    Call::new("GET", format!("/posts?{}", q.join("&")))
                }
            }
            10 => {
                let body = if rng.chance(85) {
                    json!({"title": format!("Notes on {}", rng.pick(WORDS)), "body": "…", "tags": ["rust"]})
                } else {
                    json!({"title": "no body"})
                };
                Call::new("POST", "/posts").json(body)
            }
            11 => Call::new("GET", format!("/posts/{}", seg(&slug))),
            12 => {
                Call::new("PUT", format!("/posts/{}", seg(&slug))).json(json!({"body": "edited"}))
            }
            13 => Call::new("DELETE", format!("/posts/{}", seg(&slug))),
            14 => match rng.below(2) {
                0 => Call::new("GET", format!("/posts/{}/comments", seg(&slug))),
                _ => Call::new("GET", format!("/posts/{}/comments?page={page}", seg(&slug))),
            },
            15 => {
                let body = if rng.chance(85) {
                    json!({"text": "Great post"})
                } else {
                    json!({})
                };
                Call::new("POST", format!("/posts/{}/comments", seg(&slug))).json(body)
            }
            16 => Call::new(
                "GET",
                format!("/wiki/{}", seg(TITLES[rng.popular(TITLES.len())])),
            ),
            17 => Call::new(
                "PUT",
                format!("/wiki/{}", seg(TITLES[rng.below(TITLES.len())])),
            )
            .json(json!({"text": "updated"})),
            18 => Call::new("GET", format!("/tags/{}", TAGS[rng.popular(TAGS.len())])),
            19 => Call::new("GET", format!("/subscriptions/{}", seg(&email))),
            _ => Call::new("DELETE", format!("/subscriptions/{}", seg(&email))),
        };
        // Most clients send their key in a header, browsers a cookie.
        let call = if call.target == "/login" {
            call
        } else if rng.chance(30) {
            call.header("cookie", format!("session={key}"))
        } else {
            call.header("x-api-key", key)
        };
        calls.push(call);
    }
    calls
}
