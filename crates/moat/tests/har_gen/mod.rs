//! A generated HAR like an API's recorded traffic, of a chosen size,
//! written as it is generated (one entry in memory at a time): a shop's
//! API with 30 operations over integer, UUID, ObjectId, hex, date and
//! slug identifiers, query parameters, nested JSON request and response
//! bodies, base64 JSON and binary answers, credentials in headers and
//! personal data in bodies. Deterministic: the same size gives the same
//! file.

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The operations the generated traffic exercises, as templates.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/api/v2/users"),
    ("GET", "/api/v2/users/me"),
    ("GET", "/api/v2/users/{userId}"),
    ("PATCH", "/api/v2/users/{userId}"),
    ("GET", "/api/v2/users/{userId}/orders"),
    ("GET", "/api/v2/orders"),
    ("POST", "/api/v2/orders"),
    ("GET", "/api/v2/orders/{orderId}"),
    ("DELETE", "/api/v2/orders/{orderId}"),
    ("GET", "/api/v2/orders/{orderId}/items/{itemId}"),
    ("GET", "/api/v2/products"),
    ("GET", "/api/v2/products/{productId}"),
    ("GET", "/api/v2/products/{productId}/reviews"),
    ("POST", "/api/v2/products/{productId}/reviews"),
    ("GET", "/api/v2/invoices/{invoiceId}"),
    ("GET", "/api/v2/invoices/{invoiceId}/pdf"),
    ("POST", "/api/v2/auth/login"),
    ("POST", "/api/v2/auth/refresh"),
    ("GET", "/api/v2/search"),
    ("GET", "/api/v2/carts/{cartId}"),
    ("PUT", "/api/v2/carts/{cartId}/items/{itemId}"),
    ("GET", "/api/v2/stores/{storeId}/stock/{stockId}"),
    ("GET", "/api/v2/shipments/{date}"),
    ("GET", "/api/v2/commits/{sha}"),
    ("GET", "/api/v1/products"),
    ("GET", "/api/v2/categories"),
    ("GET", "/api/v2/categories/{categoryId}/products"),
    ("POST", "/api/v2/payments"),
    ("GET", "/api/v2/payments/{paymentId}"),
    ("GET", "/health"),
];

/// Writes a HAR of at least `bytes` bytes to `out`; returns how many
/// entries it holds.
pub fn write_har(out: &mut impl Write, bytes: u64) -> io::Result<u64> {
    let mut out = Counting { out, written: 0 };
    out.write_all(br#"{"log": {"version": "1.2", "creator": {"name": "har_gen", "version": "1"}, "pages": [], "entries": ["#)?;
    let mut n = 0u64;
    while out.written < bytes {
        if n > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut out, &entry(n))?;
        n += 1;
    }
    out.write_all(b"]}}\n")?;
    out.flush()?;
    Ok(n)
}

/// A small deterministic generator (SplitMix64), one per entry.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::new();
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next() | 1 << 63));
        }
        s.truncate(digits);
        s
    }
}

const WORDS: &[&str] = &[
    "lamp", "chair", "desk", "kettle", "blanket", "mug", "shelf", "rug", "clock", "vase", "mirror",
    "stool",
];

fn person(r: &mut Rng, id: u64) -> Value {
    json!({
        "id": id,
        "uuid": r.uuid(),
        "name": format!("Customer {}", r.below(100_000)),
        "email": format!("customer{}@example.com", r.below(1_000_000)),
        "phone": format!("+44 20 7946 {:04}", r.below(10_000)),
        "address": {"street": format!("{} High Street", r.below(300)), "city": "London", "postcode": "SW1A 1AA",
                    "geo": {"lat": 51.5 + r.below(100) as f64 / 1000.0, "lon": -0.12}},
        "created_at": format!("2026-{:02}-{:02}T10:{:02}:00Z", 1 + r.below(12), 1 + r.below(28), r.below(60)),
        "tags": ["retail", "newsletter"],
    })
}

fn any_person(r: &mut Rng) -> Value {
    let id = r.below(90_000);
    person(r, id)
}

fn any_order(r: &mut Rng) -> Value {
    let id = r.below(1_000_000);
    order(r, id)
}

fn product(r: &mut Rng) -> Value {
    let word = WORDS[r.below(WORDS.len() as u64) as usize];
    json!({
        "id": r.hex(24), "slug": format!("{word}-{}", r.below(5000)), "name": format!("The {word}"),
        "price": {"amount": r.below(20_000) as f64 / 100.0, "currency": "GBP"},
        "stock": r.below(400), "categories": [{"id": r.below(40), "name": word}],
        "dimensions": {"w": r.below(200), "h": r.below(200), "d": r.below(200), "unit": "cm"},
        "description": "Made to last; ships in recycled packaging. ".repeat(1 + r.below(4) as usize),
    })
}

fn order(r: &mut Rng, id: u64) -> Value {
    let items: Vec<Value> = (0..1 + r.below(6))
        .map(|i| json!({"item_id": i + 1, "product": product(r), "quantity": 1 + r.below(4)}))
        .collect();
    let status = ["placed", "paid", "shipped", "delivered"][r.below(4) as usize];
    json!({"id": id, "status": status,
           "customer": any_person(r), "items": items,
           "payment": {"method": "card", "card_last4": format!("{:04}", r.below(10_000))}})
}

fn page(r: &mut Rng, n: u64, f: impl Fn(&mut Rng) -> Value) -> Value {
    let items: Vec<Value> = (0..n).map(|_| f(r)).collect();
    json!({"data": items, "page": {"number": r.below(50), "size": n, "next": format!("/api/v2/x?cursor={}", r.hex(16))}})
}

/// One exchange: (method, path and query, request body, status, response
/// body, base64 response mime or None).
fn exchange(n: u64, r: &mut Rng) -> (&'static str, String, Option<Value>, u16, Value) {
    let id = 1 + r.below(90_000);
    let sorts = ["name", "created_at", "price"];
    match n % 37 {
        0..=3 => (
            "GET",
            format!(
                "/api/v2/users?page={}&limit=20&sort={}",
                r.below(40),
                sorts[r.below(3) as usize]
            ),
            None,
            200,
            page(r, 10, any_person),
        ),
        4 => ("GET", "/api/v2/users/me".into(), None, 200, person(r, 1)),
        5..=6 => (
            "GET",
            format!("/api/v2/users/{}", r.uuid()),
            None,
            200,
            person(r, id),
        ),
        7 => (
            "PATCH",
            format!("/api/v2/users/{}", r.uuid()),
            Some(
                json!({"phone": format!("+44 20 7946 {:04}", r.below(10_000)), "address": {"city": "Leeds"}}),
            ),
            200,
            person(r, id),
        ),
        8 => (
            "GET",
            format!("/api/v2/users/{}/orders?status=paid", r.uuid()),
            None,
            200,
            page(r, 3, any_order),
        ),
        9..=10 => (
            "GET",
            format!("/api/v2/orders?page={}", r.below(30)),
            None,
            200,
            page(r, 4, any_order),
        ),
        11 => (
            "POST",
            "/api/v2/orders".into(),
            Some(
                json!({"items": [{"product_id": r.hex(24), "quantity": 2}], "shipping": person(r, id)["address"].clone(), "payment": {"card_number": "4111 1111 1111 1111", "cvc": "123"}}),
            ),
            201,
            order(r, id),
        ),
        12..=14 => (
            "GET",
            format!("/api/v2/orders/{id}"),
            None,
            if r.below(20) == 0 { 404 } else { 200 },
            order(r, id),
        ),
        15 => (
            "DELETE",
            format!("/api/v2/orders/{id}"),
            None,
            204,
            Value::Null,
        ),
        16 => (
            "GET",
            format!("/api/v2/orders/{id}/items/{}", 1 + r.below(5)),
            None,
            200,
            json!({"item_id": 1, "product": product(r)}),
        ),
        17..=19 => (
            "GET",
            format!(
                "/api/v2/products?category={}&q={}",
                r.below(40),
                WORDS[r.below(12) as usize]
            ),
            None,
            200,
            page(r, 12, product),
        ),
        20..=21 => (
            "GET",
            format!("/api/v2/products/{}", r.hex(24)),
            None,
            200,
            product(r),
        ),
        22 => (
            "GET",
            format!("/api/v2/products/{}/reviews", r.hex(24)),
            None,
            200,
            page(
                r,
                5,
                |r| json!({"rating": r.below(5) + 1, "text": "Lovely, as described.", "author": person(r, 7)["name"].clone()}),
            ),
        ),
        23 => (
            "POST",
            format!("/api/v2/products/{}/reviews", r.hex(24)),
            Some(json!({"rating": 5, "text": "Works well."})),
            201,
            json!({"id": r.below(1_000_000)}),
        ),
        24 => (
            "GET",
            format!("/api/v2/invoices/{}", r.hex(24)),
            None,
            200,
            json!({"number": format!("INV-{id}"), "customer": person(r, id), "lines": order(r, id)["items"].clone(), "iban": "GB82 WEST 1234 5698 7654 32"}),
        ),
        25 => (
            "GET",
            format!("/api/v2/invoices/{}/pdf", r.hex(24)),
            None,
            200,
            Value::String(r.hex(2048)),
        ),
        26 => (
            "POST",
            "/api/v2/auth/login".into(),
            Some(
                json!({"email": format!("customer{id}@example.com"), "password": format!("Pw-{}", r.hex(10))}),
            ),
            200,
            json!({"access_token": format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7fSJ9.{}", r.hex(43)), "expires_in": 3600}),
        ),
        27 => (
            "POST",
            "/api/v2/auth/refresh".into(),
            Some(json!({"refresh_token": r.hex(40)})),
            200,
            json!({"access_token": r.hex(40)}),
        ),
        28 => (
            "GET",
            format!("/api/v2/search?q={}&limit=10", WORDS[r.below(12) as usize]),
            None,
            200,
            page(r, 6, product),
        ),
        29 => (
            "GET",
            format!("/api/v2/carts/{}", r.uuid()),
            None,
            200,
            json!({"items": [{"product": product(r), "quantity": 1}], "total": {"amount": 12.5, "currency": "GBP"}}),
        ),
        30 => (
            "PUT",
            format!("/api/v2/carts/{}/items/{}", r.uuid(), 1 + r.below(9)),
            Some(json!({"quantity": 1 + r.below(3)})),
            200,
            json!({"ok": true}),
        ),
        31 => (
            "GET",
            format!(
                "/api/v2/stores/{}/stock/{}",
                1 + r.below(60),
                1 + r.below(90_000)
            ),
            None,
            200,
            json!({"available": r.below(50)}),
        ),
        32 => (
            "GET",
            format!(
                "/api/v2/shipments/2026-{:02}-{:02}",
                1 + r.below(12),
                1 + r.below(28)
            ),
            None,
            200,
            page(
                r,
                4,
                |r| json!({"order": r.below(1_000_000), "carrier": "post", "to": person(r, 3)["address"].clone()}),
            ),
        ),
        33 => (
            "GET",
            format!("/api/v2/commits/{}", r.hex(40)),
            None,
            200,
            json!({"message": "fix", "files": 3}),
        ),
        34 => (
            "GET",
            "/api/v1/products".into(),
            None,
            200,
            page(r, 2, product),
        ),
        35 => {
            if r.below(2) == 0 {
                (
                    "GET",
                    "/api/v2/categories".into(),
                    None,
                    200,
                    json!([{"id": 1, "name": "home"}, {"id": 2, "name": "garden"}]),
                )
            } else {
                (
                    "GET",
                    format!("/api/v2/categories/{}/products", 1 + r.below(40)),
                    None,
                    200,
                    page(r, 3, product),
                )
            }
        }
        _ => match r.below(3) {
            0 => (
                "POST",
                "/api/v2/payments".into(),
                Some(
                    json!({"order": id, "card": {"number": "5555 5555 5555 4444", "expiry": "12/29"}}),
                ),
                201,
                json!({"id": r.uuid()}),
            ),
            1 => (
                "GET",
                format!("/api/v2/payments/{}", r.uuid()),
                None,
                200,
                json!({"status": "captured", "amount": {"value": 12.5}}),
            ),
            _ => ("GET", "/health".into(), None, 200, json!({"status": "ok"})),
        },
    }
}

fn entry(n: u64) -> Value {
    let mut r = Rng(n.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let (method, target, request_body, status, response_body) = exchange(n, &mut r);
    let mut request = json!({
        "method": method, "url": format!("https://shop.example.com{target}"), "httpVersion": "HTTP/2",
        "headers": [
            {"name": ":authority", "value": "shop.example.com"},
            {"name": "accept", "value": "application/json"},
            {"name": "user-agent", "value": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},
            {"name": "authorization", "value": format!("Bearer {}", r.hex(40))},
            {"name": "cookie", "value": format!("session={}", r.hex(32))},
        ],
        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0,
    });
    if let Some(body) = request_body {
        request["postData"] = json!({"mimeType": "application/json", "text": body.to_string()});
    }
    let content = match (&response_body, n % 37) {
        (Value::Null, _) => json!({"size": 0, "mimeType": "application/json"}),
        (Value::String(bytes), 25) => {
            json!({"size": bytes.len() / 2, "mimeType": "application/pdf", "encoding": "base64", "text": STANDARD.encode(bytes.as_bytes())})
        }
        // One product page in three comes base64-encoded, as some proxies
        // record answers.
        (body, 17) => {
            json!({"size": 0, "mimeType": "application/json; charset=utf-8", "encoding": "base64", "text": STANDARD.encode(body.to_string().as_bytes())})
        }
        (body, _) => json!({"size": 0, "mimeType": "application/json", "text": body.to_string()}),
    };
    json!({
        "startedDateTime": "2026-12-01T10:00:00.000Z", "time": 12.5,
        "request": request,
        "response": {
            "status": status, "statusText": "", "httpVersion": "HTTP/2",
            "headers": [
                {"name": "content-type", "value": "application/json"},
                {"name": "cache-control", "value": "no-store"},
                {"name": "x-request-id", "value": r.uuid()},
            ],
            "cookies": [], "content": content, "redirectURL": "", "headersSize": -1, "bodySize": -1,
        },
        "cache": {}, "timings": {"blocked": 0.1, "dns": -1, "connect": -1, "send": 0.1, "wait": 10, "receive": 0.3, "ssl": -1},
    })
}

struct Counting<'w, W> {
    out: &'w mut W,
    written: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
