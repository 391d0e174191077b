//! "shop": an API written after discovery's rules were set, to measure
//! them on one they were not tuned for. Prefixed ids (`SKU-10482`,
//! `ORD-2026-000123`, `cus_8fJ2kL0q`), a handful of store slugs each
//! requested very often, nested store products, small integer line
//! numbers, a deprecated `/api/v2` beside `/api/v3`, a cart and checkout,
//! search with typed filters, an API key in the query for partners and a
//! session cookie for customers.

use serde_json::{Value, json};

use super::server::{Reply, Req};
use super::traffic::{Call, Rng};

/// The API's true document.
pub const DOC: &str = r##"
openapi: 3.1.0
info: {title: Shop, version: "3.1.0"}
servers: [{url: /api}]
components:
  securitySchemes:
    session: {type: apiKey, in: cookie, name: sid}
    partner: {type: apiKey, in: query, name: api_key}
  parameters:
    Sku: {name: sku, in: path, required: true, schema: {type: string}}
    Store: {name: store, in: path, required: true, schema: {type: string}}
    Order: {name: order, in: path, required: true, schema: {type: string}}
security: [{session: []}, {partner: []}]
paths:
  /v3/search:
    get:
      security: []
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer}}
        - {name: in_stock, in: query, schema: {type: boolean}}
        - {name: price_min, in: query, schema: {type: number}}
        - {name: sort, in: query, schema: {type: string, enum: [price, rating, newest]}}
      responses: {"200": {description: results}}
  /v3/products/{sku}:
    get:
      security: []
      parameters: [{$ref: "#/components/parameters/Sku"}]
      responses: {"200": {description: a product}, "404": {description: none}}
  /v3/products/{sku}/reviews:
    get:
      security: []
      parameters:
        - $ref: "#/components/parameters/Sku"
        - {name: since, in: query, schema: {type: string, format: date}}
      responses: {"200": {description: reviews}}
  /v3/stores/{store}/products:
    get:
      security: []
      parameters: [{$ref: "#/components/parameters/Store"}]
      responses: {"200": {description: a store's products}, "404": {description: none}}
  /v3/stores/{store}/hours:
    get:
      security: []
      parameters: [{$ref: "#/components/parameters/Store"}]
      responses: {"200": {description: opening hours}}
  /v3/customers/me:
    get:
      responses: {"200": {description: the caller}, "401": {description: no session}}
  /v3/customers/{customer}:
    get:
      parameters: [{name: customer, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: a customer}, "404": {description: none}}
  /v3/orders:
    get:
      parameters: [{name: page, in: query, schema: {type: integer}}]
      responses: {"200": {description: orders}}
  /v3/orders/{order}:
    get:
      parameters: [{$ref: "#/components/parameters/Order"}]
      responses: {"200": {description: an order}, "404": {description: none}}
  /v3/orders/{order}/lines/{line}:
    get:
      parameters:
        - $ref: "#/components/parameters/Order"
        - {name: line, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: an order line}, "404": {description: none}}
  /v3/cart:
    get:
      responses: {"200": {description: the cart}}
    delete:
      responses: {"204": {description: emptied}}
  /v3/cart/items:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [sku]
              properties: {sku: {type: string}, quantity: {type: integer}}
      responses: {"201": {description: added}, "422": {description: invalid}}
  /v3/cart/items/{sku}:
    delete:
      parameters: [{$ref: "#/components/parameters/Sku"}]
      responses: {"204": {description: removed}}
  /v3/checkout:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {address: {type: string}, express: {type: boolean}}}
      responses: {"201": {description: an order}, "409": {description: empty cart}}
  /v2/products/{sku}:
    get:
      deprecated: true
      security: []
      parameters: [{$ref: "#/components/parameters/Sku"}]
      responses: {"200": {description: a product}, "404": {description: none}}
"##;

/// What the shop holds, and what its clients know of it.
pub struct Data {
    skus: Vec<String>,
    stores: Vec<&'static str>,
    customers: Vec<String>,
    orders: Vec<String>,
    sessions: Vec<String>,
    partner_keys: Vec<String>,
}

const STORES: [&str; 6] = [
    "berlin-mitte",
    "paris-marais",
    "london-soho",
    "oslo",
    "lisbon-baixa",
    "rome",
];

impl Data {
    pub fn new(rng: &mut Rng) -> Data {
        let skus = (0..120)
            .map(|_| format!("SKU-{}", 10000 + rng.below(89999)))
            .collect();
        let customers = (0..50)
            .map(|_| {
                let id: String = (0..8)
                    .map(|_| {
                        let c = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
                        char::from(c[rng.below(c.len())])
                    })
                    .collect();
                format!("cus_{id}")
            })
            .collect();
        let orders = (0..80)
            .map(|_| format!("ORD-2026-{:06}", rng.below(999_999)))
            .collect();
        let sessions = (0..30).map(|_| rng.hex(32)).collect();
        let partner_keys = (0..5).map(|_| format!("pk_{}", rng.hex(24))).collect();
        Data {
            skus,
            stores: STORES.to_vec(),
            customers,
            orders,
            sessions,
            partner_keys,
        }
    }
}

fn product(sku: &str) -> Value {
    json!({"sku": sku, "name": format!("Product {sku}"), "price": 19.9, "in_stock": true})
}

/// The API's handler.
pub fn handler(data: &Data) -> impl Fn(Req) -> Reply + Send + Sync + 'static {
    let skus = data.skus.clone();
    let stores: Vec<String> = data.stores.iter().map(|s| s.to_string()).collect();
    let customers = data.customers.clone();
    let orders = data.orders.clone();
    let sessions = data.sessions.clone();
    let partner_keys = data.partner_keys.clone();
    move |req: Req| {
        let s = req.seg();
        let method = req.method.as_str();
        let Some(("api", rest)) = s.split_first().map(|(a, r)| (*a, r)) else {
            return Reply::problem(404, "not found");
        };
        let known = |list: &[String], v: &str| list.iter().any(|x| x == v);
        // Public reads first.
        match (method, rest) {
            ("GET", ["v3", "search"]) => {
                let limit: usize = req
                    .query("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(10);
                let hits: Vec<Value> = skus
                    .iter()
                    .take(limit.min(20))
                    .map(|s| product(s))
                    .collect();
                return Reply::json(200, json!({"hits": hits}));
            }
            ("GET", ["v3" | "v2", "products", sku]) => {
                let reply = if known(&skus, sku) {
                    Reply::json(200, product(sku))
                } else {
                    Reply::problem(404, "no such product")
                };
                return if rest[0] == "v2" {
                    reply.with_header("deprecation", "true".into())
                } else {
                    reply
                };
            }
            ("GET", ["v3", "products", sku, "reviews"]) => {
                return Reply::json(
                    200,
                    json!({"sku": sku, "reviews": [{"stars": 4, "text": "fine"}]}),
                );
            }
            ("GET", ["v3", "stores", store, "products"]) => {
                return if known(&stores, store) {
                    let items: Vec<Value> = skus.iter().take(5).map(|s| product(s)).collect();
                    Reply::json(200, json!({"store": store, "items": items}))
                } else {
                    Reply::problem(404, "no such store")
                };
            }
            ("GET", ["v3", "stores", store, "hours"]) => {
                return Reply::json(
                    200,
                    json!({"store": store, "opens": "09:00", "closes": "19:00"}),
                );
            }
            _ => {}
        }
        let cookie_session = req
            .header("cookie")
            .and_then(|c| c.split("; ").find_map(|kv| kv.strip_prefix("sid=")))
            .is_some_and(|sid| known(&sessions, sid));
        let partner = req
            .query("api_key")
            .is_some_and(|k| known(&partner_keys, k));
        if !(cookie_session || partner) {
            return Reply::problem(401, "session or partner key required");
        }
        match (method, rest) {
            ("GET", ["v3", "customers", "me"]) => {
                Reply::json(200, json!({"id": customers[0], "name": "Caller"}))
            }
            ("GET", ["v3", "customers", c]) => match known(&customers, c) {
                true => Reply::json(200, json!({"id": c, "name": "Someone"})),
                false => Reply::problem(404, "no such customer"),
            },
            ("GET", ["v3", "orders"]) => {
                let page: usize = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let list: Vec<Value> = orders
                    .iter()
                    .skip((page.max(1) - 1) * 10)
                    .take(10)
                    .map(|o| json!({"number": o, "total": 42.5}))
                    .collect();
                Reply::json(200, json!({"orders": list, "page": page}))
            }
            ("GET", ["v3", "orders", o]) => match known(&orders, o) {
                true => Reply::json(200, json!({"number": o, "total": 42.5, "lines": 3})),
                false => Reply::problem(404, "no such order"),
            },
            ("GET", ["v3", "orders", o, "lines", n]) => {
                match (known(&orders, o), n.parse::<u8>()) {
                    (true, Ok(1..=5)) => {
                        Reply::json(200, json!({"line": n, "sku": skus[0], "quantity": 1}))
                    }
                    _ => Reply::problem(404, "no such line"),
                }
            }
            ("GET", ["v3", "cart"]) => Reply::json(200, json!({"items": [], "total": 0})),
            ("DELETE", ["v3", "cart"]) => Reply::empty(204),
            ("POST", ["v3", "cart", "items"]) => match &req.body {
                Some(Ok(b)) if b["sku"].is_string() => {
                    Reply::json(201, json!({"sku": b["sku"], "quantity": b["quantity"]}))
                }
                _ => Reply::problem(422, "sku required"),
            },
            ("DELETE", ["v3", "cart", "items", _]) => Reply::empty(204),
            ("POST", ["v3", "checkout"]) => {
                Reply::json(201, json!({"number": orders[0], "total": 42.5}))
            }
            _ => Reply::problem(404, "not found"),
        }
    }
}

/// `n` calls: shoppers with sessions, a few partners with keys, the
/// stores requested again and again, products with a long tail.
pub fn plan(data: &Data, rng: &mut Rng, n: usize) -> Vec<Call> {
    let weights = [
        10, // search
        16, // product
        4,  // reviews
        10, // store products
        4,  // store hours
        5,  // me
        3,  // customer
        5,  // orders
        8,  // order
        3,  // order line
        5,  // cart
        1,  // empty cart
        5,  // add to cart
        2,  // remove from cart
        2,  // checkout
        3,  // v2 product
    ];
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        let sku = data.skus[rng.popular(data.skus.len())].clone();
        let missing = rng.chance(5);
        let sku = if missing {
            format!("SKU-{}", 10000 + rng.below(89999))
        } else {
            sku
        };
        let store = data.stores[rng.popular(data.stores.len())];
        let order = data.orders[rng.popular(data.orders.len())].clone();
        let call = match rng.weighted(&weights) {
            0 => {
                let mut q = vec![format!(
                    "q={}",
                    rng.pick(&["shoes", "red+hat", "bag", "usb-c", "lamp"])
                )];
                if rng.chance(50) {
                    q.push(format!("limit={}", 5 + rng.below(20)));
                }
                if rng.chance(30) {
                    q.push(format!("in_stock={}", rng.chance(50)));
                }
                if rng.chance(25) {
                    q.push(format!("price_min={}.{}", rng.below(100), rng.below(100)));
                }
                if rng.chance(40) {
                    q.push(format!("sort={}", rng.pick(&["price", "rating", "newest"])));
                }
                Call::new("GET", format!("/api/v3/search?{}", q.join("&")))
            }
            1 => Call::new("GET", format!("/api/v3/products/{sku}")),
            2 => {
                if rng.chance(40) {
                    Call::new(
                        "GET",
                        format!(
                            "/api/v3/products/{sku}/reviews?since=2026-{:02}-01",
                            1 + rng.below(11)
                        ),
                    )
                } else {
                    Call::new("GET", format!("/api/v3/products/{sku}/reviews"))
                }
            }
            3 => Call::new("GET", format!("/api/v3/stores/{store}/products")),
            4 => Call::new("GET", format!("/api/v3/stores/{store}/hours")),
            5 => Call::new("GET", "/api/v3/customers/me"),
            6 => Call::new(
                "GET",
                format!(
                    "/api/v3/customers/{}",
                    data.customers[rng.popular(data.customers.len())]
                ),
            ),
            7 => {
                if rng.chance(50) {
                    Call::new("GET", format!("/api/v3/orders?page={}", 1 + rng.below(5)))
                } else {
                    Call::new("GET", "/api/v3/orders")
                }
            }
            8 => Call::new("GET", format!("/api/v3/orders/{order}")),
            9 => Call::new(
                "GET",
                format!("/api/v3/orders/{order}/lines/{}", 1 + rng.below(5)),
            ),
            10 => Call::new("GET", "/api/v3/cart"),
            11 => Call::new("DELETE", "/api/v3/cart"),
            12 => {
                let body = if rng.chance(90) {
                    json!({"sku": sku, "quantity": 1 + rng.below(3)})
                } else {
                    json!({"quantity": 1})
                };
                Call::new("POST", "/api/v3/cart/items").json(body)
            }
            13 => Call::new("DELETE", format!("/api/v3/cart/items/{sku}")),
            14 => Call::new("POST", "/api/v3/checkout")
                .json(json!({"address": "1 Main St", "express": rng.chance(30)})),
            _ => Call::new("GET", format!("/api/v2/products/{sku}")),
        };
        // Most callers are shoppers with a session; a few are partners.
        let call = if rng.chance(15) {
            let key = &data.partner_keys[rng.below(data.partner_keys.len())];
            let sep = if call.target.contains('?') { '&' } else { '?' };
            Call {
                target: format!("{}{sep}api_key={key}", call.target),
                ..call
            }
        } else {
            let sid = &data.sessions[rng.popular(data.sessions.len())];
            call.header("cookie", format!("sid={sid}; theme=dark"))
        };
        calls.push(call);
    }
    calls
}
