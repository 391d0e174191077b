//! The sample upstream API that `moat demo` puts behind the gateway: a tiny
//! in-memory bookstore with books, users and orders, described by
//! `examples/bookstore/openapi.yaml`.
//!
//! The server is *deliberately* vulnerable, so the demo can show the gateway
//! stopping attacks that would succeed against the bare API. The weaknesses
//! are the classic OWASP API Top 10 ones, and nothing else is left open:
//!
//! * **Shadow API** – `GET /api/debug/config` is not in the spec and leaks
//!   (fake) internal configuration, including a `db_password`.
//! * **Zombie API** – `GET /api/v1/books`, deprecated in the spec, still works.
//! * **Broken function-level authorization** – `DELETE /api/books/{id}` never
//!   checks who is asking.
//! * **Mass assignment** – `POST /api/books` stores any extra properties it
//!   is sent (e.g. `"discount": 100`) although the spec forbids them.
//! * **Excessive data exposure** – `GET /api/users/{id}` returns the whole
//!   stored record, `passwordHash` and `ssn` included, where the spec
//!   promises only `id`, `name` and `email`.
//! * **Broken object-level authorization** – `GET /api/orders/{id}` returns
//!   any order to anyone; ids are sequential and easy to guess. Notes
//!   (`POST /api/notes`, named by their title, no id in the answer) are
//!   returned to anyone who names the title.
//! * **User enumeration and unthrottled logins** – `POST /api/login` says
//!   "no such user" for an unknown name and "wrong password" otherwise, and
//!   never slows anyone down. A successful login answers an `auth_token`.
//!
//! `/api/echo` (any method, any sub-path) is undocumented too, but it is a
//! test aid rather than a planted flaw: it reports exactly what reached the
//! upstream, so the gateway's tests can check what was forwarded.
//!
//! Documented inputs are otherwise validated, so every request the spec
//! allows gets a sensible answer and nothing panics on hostile input.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};

pub use weaknesses::{Weakness, Weaknesses};

use caller::Caller;

mod accounts;
pub(crate) mod caller;
mod graphql;
mod guard;
mod lookup;
mod profile;
mod surface;
mod weaknesses;

/// Largest request body read; anything bigger is answered with 413 so a
/// client cannot make the demo buffer unbounded memory.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest with `unbounded-body`: far more than any operation needs.
const UNBOUNDED_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long a client may take to send request headers before the
/// connection is dropped, so idle half-open sockets do not pile up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Default and largest page size of `GET /api/books`, as in the spec.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// Longest `q` search text and book title, as in the spec (in characters).
const MAX_QUERY_CHARS: usize = 100;
const MAX_TITLE_CHARS: usize = 200;
/// Bounds of an order's `quantity`, as in the spec.
const MAX_QUANTITY: u64 = 10;

type Body = Full<Bytes>;
type BoxError = Box<dyn StdError + Send + Sync>;
/// What a handler produces: a response, or why the request was refused.
type Outcome = Result<Response<Body>, Rejection>;

/// How the bookstore runs: which weaknesses are on and the secret it signs
/// its tokens with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub weaknesses: Weaknesses,
    /// The HS256 secret of the tokens `POST /api/login` issues.
    pub jwt_secret: Vec<u8>,
}

impl Settings {
    /// `weaknesses` on; the weak secret only with `weak-jwt-secret`, a fresh
    /// random one otherwise.
    pub fn with(weaknesses: Weaknesses) -> Self {
        let jwt_secret = if weaknesses.has(Weakness::WeakJwtSecret) {
            WEAK_JWT_SECRET.as_bytes().to_vec()
        } else {
            caller::random_secret()
        };
        Self {
            weaknesses,
            jwt_secret,
        }
    }
}

/// jwt.io's example HS256 secret, on every list of published secrets.
pub const WEAK_JWT_SECRET: &str = "your-256-bit-secret";

/// What every request handler shares: the data, and the settings.
pub(crate) struct Shared {
    store: Mutex<Store>,
    pub(crate) settings: Settings,
    /// The reviews only the GraphQL API reads and adds.
    graphql: graphql::Reviews,
    /// The rate limit's and the login lockout's counters.
    guard: guard::GuardState,
}

impl Shared {
    /// The seeded store, with `settings`.
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            store: Mutex::new(Store::seeded()),
            settings,
            graphql: graphql::Reviews::default(),
            guard: guard::GuardState::default(),
        }
    }

    pub(crate) fn has(&self, weakness: Weakness) -> bool {
        self.settings.weaknesses.has(weakness)
    }

    /// The role of the user named `name`, if there is one.
    pub(crate) fn role_of(&self, name: &str) -> Option<caller::Role> {
        let store = lock(&self.store);
        let (id, _) = store
            .users
            .iter()
            .find(|(_, u)| u.get("name").and_then(Value::as_str) == Some(name))?;
        Some(if store.is_admin(*id) {
            caller::Role::Admin
        } else {
            caller::Role::User
        })
    }
}

/// Serves the bookstore on `listener` until `shutdown` resolves.
///
/// Once `shutdown` resolves no new connection is accepted; requests already
/// in flight get a few seconds to finish and idle keep-alive connections are
/// closed, then the function returns. Failed accepts are logged and retried
/// rather than returned, because they are usually transient (a client that
/// hung up, a momentary descriptor shortage) and the demo should keep going.
pub async fn serve_with(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    settings: Settings,
) -> std::io::Result<()> {
    let store = Arc::new(Shared::new(settings));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => spawn_connection(stream, peer, Arc::clone(&store), &graceful),
                Err(error) => {
                    tracing::warn!(%error, "bookstore: accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("bookstore: gave up waiting for in-flight requests");
    }
    Ok(())
}

/// Serves one HTTP/1.1 connection (with keep-alive) on its own task, watched
/// by `graceful` so shutdown can close it cleanly.
fn spawn_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    store: Arc<Shared>,
    graceful: &GracefulShutdown,
) {
    let service = service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request
            .extensions_mut()
            .insert(guard::ClientAddr(peer.ip()));
        handle(Arc::clone(&store), request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "bookstore: connection ended with an error");
        }
    });
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// Everything the bookstore knows. Books are kept as raw JSON objects rather
/// than structs precisely so that unknown properties survive (the planted
/// mass-assignment flaw); users are raw JSON so the whole record leaks.
struct Store {
    books: BTreeMap<u64, Map<String, Value>>,
    users: BTreeMap<u64, Value>,
    /// Each user's password, apart from the record (which leaks).
    passwords: BTreeMap<u64, String>,
    orders: BTreeMap<u64, Value>,
    /// Who placed each order (`None`: an anonymous caller).
    order_owners: BTreeMap<u64, Option<String>>,
    /// Reading notes by title (first writer wins).
    notes: BTreeMap<String, Value>,
    /// Who wrote each note.
    note_owners: BTreeMap<String, Option<String>>,
    /// Coupons redeemed, and redemption attempts ([`accounts`]).
    coupons: accounts::Coupons,
    next_book_id: u64,
    next_order_id: u64,
}

/// The password of alice and bob: the tour logs in as alice.
const DEMO_PASSWORD: &str = "wonderland";
/// The administrator's password.
const ADMIN_PASSWORD: &str = "through-the-looking-glass";

impl Store {
    /// Whether user `id` is an administrator.
    fn is_admin(&self, id: u64) -> bool {
        self.users
            .get(&id)
            .and_then(|u| u.get("role"))
            .and_then(Value::as_str)
            == Some("admin")
    }

    /// Three books, three users (alice and bob, and an administrator) and
    /// no orders.
    fn seeded() -> Self {
        let books = [
            book(
                1,
                "The Pragmatic Programmer",
                "Andrew Hunt and David Thomas",
                json!(39.99),
                12,
            ),
            book(
                2,
                "Designing Data-Intensive Applications",
                "Martin Kleppmann",
                json!(45.5),
                7,
            ),
            book(
                3,
                "The Rust Programming Language",
                "Steve Klabnik and Carol Nichols",
                json!(29.95),
                20,
            ),
        ];
        let users = [
            json!({
                "id": 1,
                "name": "alice",
                "email": "alice@example.com",
                "passwordHash": "$2b$12$Kq8ZbP1mYqkFQ0c1l0f8Xe3J0d6FfXq1yQm8m9T7cC0uVYcYk3n5W",
                "ssn": "900-12-3456",
            }),
            json!({
                "id": 2,
                "name": "bob",
                "email": "bob@example.com",
                "passwordHash": "$2b$12$7vM2pQ9sW4xL1nB6tR8yUeZ3aH5kJ0dG2fC9qE1wS4oP7iU6yT3rK",
            }),
            json!({
                "id": 3,
                "name": "admin",
                "email": "admin@bookstore.example",
                "role": "admin",
                "passwordHash": "$2b$12$Qe4rT6yU8iO0pA2sD4fG6hJ8kL0zX2cV4bN6mQ8wE0rT2yU4iO6pA",
            }),
        ];
        Self {
            books: books.into_iter().map(|b| (id_of(&b), b)).collect(),
            users: (1..).zip(users).collect(),
            passwords: [(1, DEMO_PASSWORD), (2, DEMO_PASSWORD), (3, ADMIN_PASSWORD)]
                .into_iter()
                .map(|(id, p)| (id, p.to_string()))
                .collect(),
            orders: BTreeMap::new(),
            order_owners: BTreeMap::new(),
            notes: BTreeMap::new(),
            note_owners: BTreeMap::new(),
            coupons: accounts::Coupons::default(),
            next_book_id: 4,
            next_order_id: 1,
        }
    }
}

/// Builds a stored book record with its fields in the spec's order.
fn book(id: u64, title: &str, author: &str, price: Value, stock: u64) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("id".into(), id.into());
    record.insert("title".into(), title.into());
    record.insert("author".into(), author.into());
    record.insert("price".into(), price);
    record.insert("stock".into(), stock.into());
    record
}

fn id_of(record: &Map<String, Value>) -> u64 {
    record.get("id").and_then(Value::as_u64).unwrap_or_default()
}

/// Locks the store. A panic elsewhere while holding the lock cannot leave
/// the plain maps in a dangerous state, so poisoning is ignored rather than
/// turned into a panic of our own.
fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

/// The resource a path names, independent of the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Books,
    Book(&'a str),
    User(&'a str),
    Orders,
    Order(&'a str),
    Notes,
    Note(&'a str),
    Login,
    Echo,
    /// A path an area serves, under a collection whose items the core
    /// serves (`/orders/lookup` beside `/orders/{orderId}`): a method the
    /// area did not answer gets 405 with the area's methods.
    AreaOnly(&'static str),
    Unknown,
}

impl Route<'_> {
    /// The `Allow` header value of a 405 answer.
    fn allow(self) -> &'static str {
        match self {
            Route::Books => "GET, POST",
            Route::Book(_) => "GET, DELETE",
            Route::Orders | Route::Notes | Route::Login => "POST",
            Route::Note(_) => "GET",
            Route::AreaOnly(allow) => allow,
            Route::User(_) => "GET, PATCH",
            Route::Order(_) => "GET",
            Route::Echo | Route::Unknown => "",
        }
    }
}

/// Maps a request path to its route. Ids are left raw so each handler can
/// report a malformed one in terms of its own parameter name.
fn route(path: &str) -> Route<'_> {
    let Some(rest) = path.strip_prefix("/api/") else {
        return Route::Unknown;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["books"] => Route::Books,
        ["books", id] if !id.is_empty() => Route::Book(id),
        ["users", "check-email"] => Route::AreaOnly("GET"),
        ["users", id] if !id.is_empty() => Route::User(id),
        ["orders"] => Route::Orders,
        ["orders", "lookup"] => Route::AreaOnly("POST"),
        ["orders", id] if !id.is_empty() => Route::Order(id),
        ["notes"] => Route::Notes,
        ["notes", title] if !title.is_empty() => Route::Note(title),
        ["login"] => Route::Login,
        ["echo", ..] => Route::Echo,
        _ => Route::Unknown,
    }
}

/// One request, its body read whole, and who sent it: what the areas
/// beside the core routes ([`AREAS`]) answer from.
pub(crate) struct Req {
    pub(crate) parts: Parts,
    /// The body, or why it could not be read (413 when too large).
    pub(crate) body: Result<Bytes, Rejection>,
    pub(crate) caller: Caller,
}

impl Req {
    /// The body as a JSON object (415, 400 or 413 otherwise).
    pub(crate) fn json_object(&self) -> Result<Map<String, Value>, Rejection> {
        let body = self.body.clone()?;
        json_object(&self.parts.headers, &body)
    }
}

/// What an area answers, when the request is one of its own.
pub(crate) type AreaAnswer<'a> = Option<Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>>;

/// The areas beside the core routes, asked in order; the first that owns
/// the request answers it.
const AREAS: &[for<'a> fn(&'a Shared, &'a Req) -> AreaAnswer<'a>] = &[
    surface::route,
    profile::route,
    accounts::route,
    lookup::route,
    graphql::route,
];

/// Answers one request. Generic over the body type so it does not depend on
/// how the request arrived; it never fails, errors become problem responses.
async fn handle<B>(shared: Arc<Shared>, request: Request<B>) -> Result<Response<Body>, Infallible>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let limit = if shared.has(Weakness::UnboundedBody) {
        UNBOUNDED_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let body = read_body(body, limit).await;
    let caller = Caller::of(&shared, &parts.headers);
    let req = Req {
        parts,
        body,
        caller,
    };
    if let Some(refused) = guard::refuse(&shared, &req) {
        return Ok(surface::finish(&shared, &req, refused));
    }
    for area in AREAS {
        if let Some(answer) = area(&shared, &req) {
            let response = answer.await.unwrap_or_else(Rejection::into_response);
            return Ok(surface::finish(&shared, &req, response));
        }
    }
    let store = &shared.store;
    let (parts, path) = (&req.parts, req.parts.uri.path());
    let outcome = match (route(path), &parts.method) {
        (Route::Unknown, _) => Err(Rejection::new(
            StatusCode::NOT_FOUND,
            format!("no route for {path}"),
        )),
        (Route::Echo, _) => req.body.clone().map(|bytes| echo(parts, &bytes)),
        (Route::Books, &Method::GET) => list_books(
            store,
            parts.uri.query(),
            shared.has(Weakness::UnboundedPage),
        ),
        (Route::Books, &Method::POST) => req
            .json_object()
            .and_then(|object| create_book(&shared, object)),
        (Route::Book(id), &Method::GET) => get_book(store, id),
        (Route::Book(id), &Method::DELETE) => delete_book(&shared, &req.caller, id),
        (Route::User(id), &Method::GET) => get_user(&shared, &req.caller, id),
        (Route::Orders, &Method::POST) => req
            .json_object()
            .and_then(|object| create_order(store, &req.caller, &object)),
        (Route::Order(id), &Method::GET) => get_order(&shared, &req.caller, id),
        (Route::Notes, &Method::POST) => req
            .json_object()
            .and_then(|object| create_note(store, &req.caller, &object)),
        (Route::Note(title), &Method::GET) => get_note(&shared, &req.caller, title),
        (Route::Login, &Method::POST) => {
            req.json_object().and_then(|object| login(&shared, &object))
        }
        (other, method) => Ok(method_not_allowed(method, other.allow())),
    };
    let response = outcome.unwrap_or_else(Rejection::into_response);
    Ok(surface::finish(&shared, &req, response))
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// `GET /api/books`: the books matching `q`, at most `limit` of them.
fn list_books(store: &Mutex<Store>, query: Option<&str>, unbounded: bool) -> Outcome {
    let params = ListParams::parse(query, unbounded)?;
    let books: Vec<Value> = lock(store)
        .books
        .values()
        .filter(|book| params.matches(book))
        .take(params.limit)
        .map(|book| Value::Object(book.clone()))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(books)))
}

/// `GET /api/v1/books` — WEAKNESS (zombie API): the deprecated first version
/// was never switched off and still returns the whole catalogue, unpaged.
fn list_books_v1(store: &Mutex<Store>) -> Response<Body> {
    let books: Vec<Value> = lock(store)
        .books
        .values()
        .cloned()
        .map(Value::Object)
        .collect();
    json_response(StatusCode::OK, &Value::Array(books))
}

/// `POST /api/books` — WEAKNESS (mass assignment): the documented fields are
/// validated, but any other property is stored and returned as well.
/// Without `mass-assignment`, an undocumented property is refused (400).
fn create_book(shared: &Shared, object: Map<String, Value>) -> Outcome {
    let store = &shared.store;
    let new_book = NewBook::from_json(object)?;
    if !shared.has(Weakness::MassAssignment)
        && let Some(name) = new_book.extra.keys().next()
    {
        return Err(Rejection::bad_request(format!("unknown property {name}")));
    }
    let record = {
        let mut store = lock(store);
        let id = store.next_book_id;
        store.next_book_id += 1;
        let record = new_book.into_record(id);
        store.books.insert(id, record.clone());
        record
    };
    let location = format!("/api/books/{}", id_of(&record));
    Ok(created(&Value::Object(record), &location))
}

/// `GET /api/books/{bookId}`.
fn get_book(store: &Mutex<Store>, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "bookId")?;
    match lock(store).books.get(&id) {
        Some(book) => Ok(json_response(StatusCode::OK, &Value::Object(book.clone()))),
        None => Err(Rejection::not_found("book", id)),
    }
}

/// `DELETE /api/books/{bookId}` — WEAKNESS (broken function-level
/// authorization): anyone may delete, there is no check of who is asking.
/// Without `bfla`, only an administrator may.
fn delete_book(shared: &Shared, caller: &Caller, raw_id: &str) -> Outcome {
    if !shared.has(Weakness::Bfla) {
        accounts::require_admin(caller)?;
    }
    let id = parse_id(raw_id, "bookId")?;
    match lock(&shared.store).books.remove(&id) {
        Some(_) => Ok(empty(StatusCode::NO_CONTENT)),
        None => Err(Rejection::not_found("book", id)),
    }
}

/// `GET /api/users/{userId}` — WEAKNESS (excessive data exposure): the whole
/// stored record goes out, `passwordHash` and `ssn` included, trusting the
/// client to show only what it needs. Without `excessive-exposure`, only the
/// documented fields; without `no-auth`, only to the user or an
/// administrator.
fn get_user(shared: &Shared, caller: &Caller, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "userId")?;
    let store = lock(&shared.store);
    if !shared.has(Weakness::NoAuth) {
        accounts::require_account(&store, caller, id)?;
    }
    match store.users.get(&id) {
        Some(user) => Ok(json_response(
            StatusCode::OK,
            &accounts::user_view(shared, user),
        )),
        None => Err(Rejection::not_found("user", id)),
    }
}

/// `POST /api/orders`: takes copies out of stock and records the order.
fn create_order(store: &Mutex<Store>, caller: &Caller, object: &Map<String, Value>) -> Outcome {
    let new_order = NewOrder::from_json(object)?;
    let order = {
        let mut store = lock(store);
        let order = place_order(&mut store, &new_order)?;
        if let Some(id) = order.get("id").and_then(Value::as_u64) {
            store
                .order_owners
                .insert(id, caller.name().map(str::to_string));
        }
        order
    };
    let location = format!("/api/orders/{}", order.get("id").unwrap_or(&Value::Null));
    Ok(created(&order, &location))
}

/// The stock-keeping part of `create_order`, done under one lock so two
/// orders cannot both take the last copy.
fn place_order(store: &mut Store, new_order: &NewOrder) -> Result<Value, Rejection> {
    let Some(book) = store.books.get_mut(&new_order.book_id) else {
        let detail = format!("book {} does not exist", new_order.book_id);
        return Err(Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, detail));
    };
    let stock = book
        .get("stock")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    if stock < new_order.quantity {
        let detail = format!(
            "only {stock} copies of book {} are in stock",
            new_order.book_id
        );
        return Err(Rejection::new(StatusCode::CONFLICT, detail));
    }
    book.insert("stock".into(), (stock - new_order.quantity).into());
    let price = book
        .get("price")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let id = store.next_order_id;
    store.next_order_id += 1;
    let order = json!({
        "id": id,
        "bookId": new_order.book_id,
        "quantity": new_order.quantity,
        "total": to_cents(price * new_order.quantity as f64),
    });
    store.orders.insert(id, order.clone());
    Ok(order)
}

/// `GET /api/orders/{orderId}` — WEAKNESS (broken object-level
/// authorization): any order is returned to anyone who names its id.
/// Without `bola-numeric`, only to whoever placed it or an administrator.
fn get_order(shared: &Shared, caller: &Caller, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "orderId")?;
    let order = accounts::order_for(shared, caller, id, Weakness::BolaNumeric)?;
    Ok(json_response(StatusCode::OK, &order))
}

/// `POST /api/notes`: saves a note under its title — the first writer's
/// stays — and answers without an id: the title names it.
fn create_note(store: &Mutex<Store>, caller: &Caller, object: &Map<String, Value>) -> Outcome {
    let mut object = object.clone();
    let title = required_string(&mut object, "title")?;
    let text = required_string(&mut object, "text")?;
    let mut store = lock(store);
    if !store.notes.contains_key(&title) {
        store
            .note_owners
            .insert(title.clone(), caller.name().map(str::to_string));
        store
            .notes
            .insert(title.clone(), json!({"title": title, "text": text}));
    }
    Ok(json_response(StatusCode::CREATED, &json!({"saved": true})))
}

/// `GET /api/notes/{title}` — WEAKNESS (broken object-level
/// authorization): any note is returned to anyone who names its title.
/// Without `bola-string`, only to its writer or an administrator.
fn get_note(shared: &Shared, caller: &Caller, raw_title: &str) -> Outcome {
    let title = percent_decode(raw_title);
    let store = lock(&shared.store);
    let owner = store.note_owners.get(&title).cloned().flatten();
    let allowed = shared.has(Weakness::BolaString)
        || caller.is_admin()
        || (owner.is_some() && owner.as_deref() == caller.name());
    if !allowed {
        if caller.name().is_none() {
            return Err(accounts::unauthenticated());
        }
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            format!("no note titled {title}"),
        ));
    }
    match store.notes.get(&title) {
        Some(note) => Ok(json_response(StatusCode::OK, note)),
        None => Err(Rejection::new(
            StatusCode::NOT_FOUND,
            format!("no note titled {title}"),
        )),
    }
}

/// `POST /api/login` — WEAKNESS `user-enumeration`: an unknown user and a
/// wrong password get different answers (otherwise one generic 401, after
/// the same work); WEAKNESS `no-lockout`: any number of attempts is
/// answered (otherwise five failures for an account within a minute lock
/// it: 429 with `Retry-After`).
fn login(shared: &Shared, object: &Map<String, Value>) -> Outcome {
    let store = &shared.store;
    let mut object = object.clone();
    let username = required_string(&mut object, "username")?;
    let password = lookup::Password::take(shared, &mut object)?;
    let lockout = !shared.has(Weakness::NoLockout);
    let now = std::time::Instant::now();
    if lockout && let Some(left) = shared.guard.locked_for(&username, now) {
        return Ok(guard::too_many(
            "too many failed logins for this account",
            left,
        ));
    }
    let enumerable = shared.has(Weakness::UserEnumeration);
    let store = lock(store);
    let user = store
        .users
        .values()
        .find(|u| u.get("name").and_then(Value::as_str) == Some(username.as_str()));
    let id = user
        .and_then(|u| u.get("id"))
        .and_then(Value::as_u64)
        .unwrap_or_default();
    // The same comparison whether the user exists or not.
    let expected = store.passwords.get(&id).map_or("", String::as_str);
    let matches = password.matches(Some(expected));
    if user.is_none() || !matches {
        if lockout {
            shared.guard.failed(&username, now);
        }
        return Err(match (enumerable, user.is_some()) {
            (true, false) => {
                Rejection::new(StatusCode::NOT_FOUND, format!("no such user: {username}"))
            }
            (true, true) => Rejection::new(StatusCode::UNAUTHORIZED, "wrong password"),
            (false, _) => Rejection::new(StatusCode::UNAUTHORIZED, "wrong user name or password"),
        });
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"auth_token": caller::issue(shared, &username, if store.is_admin(id) { caller::Role::Admin } else { caller::Role::User })}),
    ))
}

/// `GET /api/debug/config` — WEAKNESS (shadow API): a leftover debugging
/// route missing from the spec that leaks internal configuration. Every
/// value is made up.
fn debug_config() -> Response<Body> {
    let config = json!({
        "service": "bookstore",
        "version": "2.0.0",
        "environment": "production",
        "debug": true,
        "db_host": "db.internal.bookstore.example:5432",
        "db_user": "bookstore_app",
        "db_password": "fake-Sup3rS3cret!",
        "jwt_signing_key": "fake-signing-key-not-a-real-secret",
        "payment_gateway_url": "https://payments.internal.bookstore.example/v2",
    });
    json_response(StatusCode::OK, &config)
}

/// `/api/echo` (any method, any sub-path): describes the request exactly as
/// it arrived, so tests can see what the gateway forwarded.
fn echo(parts: &Parts, body: &[u8]) -> Response<Body> {
    let description = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers_json(&parts.headers),
        "body": String::from_utf8_lossy(body),
    });
    json_response(StatusCode::OK, &description)
}

/// Header names (lower case) to values; repeated headers are joined with
/// `", "` as HTTP allows, and non-UTF-8 bytes are replaced, not rejected.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        object.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    Value::Object(object)
}

// ---------------------------------------------------------------------------
// Input parsing
// ---------------------------------------------------------------------------

/// Validated query of `GET /api/books`.
#[derive(Debug, PartialEq)]
struct ListParams {
    limit: usize,
    /// Lower-cased search text.
    q: Option<String>,
}

impl ListParams {
    /// Reads `limit` and `q` (first occurrence wins; unknown names are
    /// ignored) and checks them against the spec's bounds.
    /// With `unbounded` (`unbounded-page`), any positive `limit` is taken.
    fn parse(query: Option<&str>, unbounded: bool) -> Result<Self, Rejection> {
        let mut limit = None;
        let mut q = None;
        for (name, value) in query_pairs(query.unwrap_or_default()) {
            match name.as_str() {
                "limit" if limit.is_none() => limit = Some(parse_limit(&value, unbounded)?),
                "q" if q.is_none() => {
                    if value.chars().count() > MAX_QUERY_CHARS {
                        return Err(Rejection::bad_request(format!(
                            "q must be at most {MAX_QUERY_CHARS} characters"
                        )));
                    }
                    q = Some(value.to_lowercase());
                }
                _ => {}
            }
        }
        Ok(Self {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            q,
        })
    }

    /// Whether `book`'s title or author contains the search text.
    fn matches(&self, book: &Map<String, Value>) -> bool {
        let Some(q) = &self.q else { return true };
        ["title", "author"].iter().any(|field| {
            book.get(*field)
                .and_then(Value::as_str)
                .is_some_and(|text| text.to_lowercase().contains(q.as_str()))
        })
    }
}

fn parse_limit(value: &str, unbounded: bool) -> Result<usize, Rejection> {
    let max = if unbounded { usize::MAX } else { MAX_LIMIT };
    match value.parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) && is_digits(value) => Ok(limit),
        _ => Err(Rejection::bad_request(format!(
            "limit must be an integer from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Splits a query string into decoded name/value pairs.
fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
}

/// Decodes `%XX` escapes and `+` (form encoding for a space). Malformed
/// escapes are kept literally and invalid UTF-8 replaced, so any input
/// decodes to something.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = match byte {
            b'%' => decode_escape(bytes.get(index + 1..index + 3)),
            _ => None,
        };
        match (byte, escaped) {
            (_, Some(value)) => {
                decoded.push(value);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (other, None) => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The byte written by the two hex digits after a `%`, if they are that.
fn decode_escape(digits: Option<&[u8]>) -> Option<u8> {
    let &[high, low] = digits? else {
        return None;
    };
    let value = char::from(high).to_digit(16)? * 16 + char::from(low).to_digit(16)?;
    u8::try_from(value).ok()
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Parses a path id: a positive integer written with plain digits (no sign,
/// no escapes), as the spec's `integer, minimum: 1` demands.
fn parse_id(raw: &str, name: &str) -> Result<u64, Rejection> {
    match raw.parse::<u64>() {
        Ok(id) if id >= 1 && is_digits(raw) => Ok(id),
        _ => Err(Rejection::bad_request(format!(
            "{name} must be a positive integer"
        ))),
    }
}

/// Body of `POST /api/books` after validation of the documented fields.
struct NewBook {
    title: String,
    author: String,
    price: Value,
    stock: u64,
    /// Every undocumented property, kept on purpose (mass assignment).
    extra: Map<String, Value>,
}

impl NewBook {
    fn from_json(mut object: Map<String, Value>) -> Result<Self, Rejection> {
        let title = required_string(&mut object, "title")?;
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(Rejection::bad_request(format!(
                "title must be at most {MAX_TITLE_CHARS} characters"
            )));
        }
        let author = required_string(&mut object, "author")?;
        let price = match object.remove("price") {
            None => json!(0),
            Some(price) if price.as_f64().is_some_and(|p| p >= 0.0) => price,
            Some(_) => return Err(Rejection::bad_request("price must be a number >= 0")),
        };
        let stock = match object.remove("stock") {
            None => 0,
            Some(stock) => stock
                .as_u64()
                .ok_or_else(|| Rejection::bad_request("stock must be an integer >= 0"))?,
        };
        Ok(Self {
            title,
            author,
            price,
            stock,
            extra: object,
        })
    }

    /// The record to store. The server-assigned `id` wins over a sent one,
    /// but everything else that was sent is kept.
    fn into_record(self, id: u64) -> Map<String, Value> {
        let mut record = book(id, &self.title, &self.author, self.price, self.stock);
        for (name, value) in self.extra {
            record.entry(name).or_insert(value);
        }
        record
    }
}

fn required_string(object: &mut Map<String, Value>, name: &str) -> Result<String, Rejection> {
    match object.remove(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(Rejection::bad_request(format!("{name} must be a string"))),
        None => Err(Rejection::bad_request(format!("{name} is required"))),
    }
}

/// Body of `POST /api/orders` after validation. Unknown properties are
/// ignored (never stored).
struct NewOrder {
    book_id: u64,
    quantity: u64,
}

impl NewOrder {
    fn from_json(object: &Map<String, Value>) -> Result<Self, Rejection> {
        let book_id = object
            .get("bookId")
            .and_then(Value::as_u64)
            .filter(|id| *id >= 1)
            .ok_or_else(|| Rejection::bad_request("bookId must be a positive integer"))?;
        let quantity = object
            .get("quantity")
            .and_then(Value::as_u64)
            .filter(|quantity| (1..=MAX_QUANTITY).contains(quantity))
            .ok_or_else(|| {
                Rejection::bad_request(format!(
                    "quantity must be an integer from 1 to {MAX_QUANTITY}"
                ))
            })?;
        Ok(Self { book_id, quantity })
    }
}

/// Rounds a dollar amount to whole cents, hiding binary-float noise such as
/// `38.970000000000006`.
fn to_cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// Reads the whole body, refusing more than `limit` bytes.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body exceeds {limit} bytes"),
        )),
        Err(_) => Err(Rejection::bad_request("the request body could not be read")),
    }
}

/// A JSON object body: 415 for a non-JSON content type, 400 for
/// malformed JSON or JSON that is not an object. A missing content type is
/// tolerated, as simple clients often omit it.
fn json_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if !is_json_content_type(headers) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Rejection::bad_request(
            "the request body must be a JSON object",
        )),
        Err(error) => Err(Rejection::bad_request(format!(
            "the request body is not valid JSON: {error}"
        ))),
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    // Serialising a `Value` cannot fail: its keys are always strings.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn created(value: &Value, location: &str) -> Response<Body> {
    let mut response = json_response(StatusCode::CREATED, value);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// An RFC 9457 problem object, the spec's `Problem` schema.
fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    json_response(status, &body)
}

/// Why a request was refused. Kept small (unlike a whole `Response`) so it
/// can travel through `?`; [`handle`] turns it into a problem response.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    status: StatusCode,
    detail: String,
}

impl Rejection {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    fn not_found(kind: &str, id: u64) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{kind} {id} does not exist"))
    }

    fn into_response(self) -> Response<Body> {
        problem(self.status, &self.detail)
    }
}

fn method_not_allowed(method: &Method, allow: &'static str) -> Response<Body> {
    let mut response = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{method} is not allowed here"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    /// A bookstore on an ephemeral port plus a client for it.
    struct TestServer {
        base: String,
        client: Client<HttpConnector, Body>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
    }

    /// What came back from one request.
    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        json: Value,
    }

    impl TestServer {
        async fn start() -> Self {
            Self::start_with(Weaknesses::all()).await
        }

        async fn start_with(weaknesses: Weaknesses) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_with(
                listener,
                async move {
                    let _ = stopped.await;
                },
                Settings::with(weaknesses),
            ));
            let client = Client::builder(TokioExecutor::new()).build_http();
            Self {
                base,
                client,
                stop: Some(stop),
                task,
            }
        }

        async fn send(
            &self,
            method: Method,
            path: &str,
            headers: &[(&str, &str)],
            body: &str,
        ) -> Reply {
            let mut request = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.base));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap();
            let response = self.client.request(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let json = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            Reply {
                status: parts.status,
                headers: parts.headers,
                json,
            }
        }

        async fn get(&self, path: &str) -> Reply {
            self.send(Method::GET, path, &[], "").await
        }

        async fn post_json(&self, path: &str, body: &str) -> Reply {
            self.send(
                Method::POST,
                path,
                &[("content-type", "application/json")],
                body,
            )
            .await
        }

        async fn stop(mut self) {
            drop(self.stop.take());
            let finished = tokio::time::timeout(Duration::from_secs(5), self.task).await;
            finished
                .expect("serve returns after shutdown")
                .unwrap()
                .unwrap();
        }
    }

    fn content_type(reply: &Reply) -> &str {
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
    }

    #[tokio::test]
    async fn lists_seeded_books() {
        let server = TestServer::start().await;
        let reply = server.get("/api/books").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(content_type(&reply), "application/json");
        let books = reply.json.as_array().unwrap();
        assert_eq!(books.len(), 3);
        assert_eq!(books[0]["id"], 1);
        assert_eq!(books[0]["title"], "The Pragmatic Programmer");
        server.stop().await;
    }

    #[tokio::test]
    async fn list_books_honours_limit_and_q() {
        let server = TestServer::start().await;
        let limited = server.get("/api/books?limit=2").await;
        assert_eq!(limited.json.as_array().unwrap().len(), 2);
        let searched = server.get("/api/books?q=rust%20programming").await;
        let books = searched.json.as_array().unwrap();
        assert_eq!(books.len(), 1);
        assert_eq!(books[0]["id"], 3);
        let by_author = server.get("/api/books?q=KLEPP").await;
        assert_eq!(by_author.json[0]["id"], 2);
        server.stop().await;
    }

    #[tokio::test]
    async fn list_books_rejects_bad_parameters() {
        let server = TestServer::start_with(Weaknesses::none()).await;
        for query in ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=+5"] {
            let reply = server.get(&format!("/api/books?{query}")).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(reply.json["status"], 400);
        }
        let long_q = format!("/api/books?q={}", "x".repeat(101));
        assert_eq!(server.get(&long_q).await.status, StatusCode::BAD_REQUEST);
        server.stop().await;
    }

    #[tokio::test]
    async fn creates_book_with_location() {
        let server = TestServer::start().await;
        let reply = server
            .post_json(
                "/api/books",
                r#"{"title":"Dune","author":"Frank Herbert","price":9.99,"stock":3}"#,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(reply.headers.get(header::LOCATION).unwrap(), "/api/books/4");
        assert_eq!(reply.json["id"], 4);
        assert_eq!(reply.json["title"], "Dune");
        let fetched = server.get("/api/books/4").await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.json, reply.json);
        server.stop().await;
    }

    #[tokio::test]
    async fn create_book_keeps_unknown_properties() {
        let server = TestServer::start().await;
        let body = r#"{"title":"Free","author":"Anyone","price":10,"discount":100,"id":999}"#;
        let reply = server.post_json("/api/books", body).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(reply.json["discount"], 100);
        assert_eq!(reply.json["id"], 4, "the server assigns the id");
        let fetched = server.get("/api/books/4").await;
        assert_eq!(fetched.json["discount"], 100);
        server.stop().await;
    }

    #[tokio::test]
    async fn create_book_validates_documented_fields() {
        let server = TestServer::start().await;
        let long_title = format!(r#"{{"title":"{}","author":"a"}}"#, "t".repeat(201));
        for body in [
            r#"{"author":"a"}"#,
            r#"{"title":1,"author":"a"}"#,
            r#"{"title":"t"}"#,
            r#"{"title":"t","author":"a","price":-1}"#,
            r#"{"title":"t","author":"a","price":"5"}"#,
            r#"{"title":"t","author":"a","stock":1.5}"#,
            r#"[1,2]"#,
            long_title.as_str(),
        ] {
            let reply = server.post_json("/api/books", body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        let server = TestServer::start().await;
        let reply = server.post_json("/api/books", r#"{"title": "#).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type(&reply), "application/json");
        assert_eq!(reply.json["status"], 400);
        let orders = server.post_json("/api/orders", "not json").await;
        assert_eq!(orders.status, StatusCode::BAD_REQUEST);
        server.stop().await;
    }

    #[tokio::test]
    async fn non_json_content_type_is_415() {
        let server = TestServer::start().await;
        let reply = server
            .send(
                Method::POST,
                "/api/books",
                &[("content-type", "text/plain")],
                "{}",
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        server.stop().await;
    }

    #[tokio::test]
    async fn oversized_body_is_413() {
        let server = TestServer::start_with(Weaknesses::none()).await;
        let body = format!(r#"{{"title":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let reply = server.post_json("/api/login", &body).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        server.stop().await;
        // With `unbounded-body`, the same body is read (and judged).
        let server = TestServer::start().await;
        let reply = server.post_json("/api/books", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        server.stop().await;
    }

    #[tokio::test]
    async fn missing_things_are_404_problems() {
        let server = TestServer::start().await;
        for path in [
            "/api/books/999",
            "/api/users/4",
            "/api/orders/1",
            "/api/nope",
            "/elsewhere",
        ] {
            let reply = server.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(content_type(&reply), "application/json");
            assert_eq!(reply.json["status"], 404);
            assert_eq!(reply.json["title"], "Not Found");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn bad_ids_are_400() {
        let server = TestServer::start().await;
        for path in [
            "/api/books/abc",
            "/api/books/0",
            "/api/books/-1",
            "/api/users/%31",
            "/api/orders/99999999999999999999",
        ] {
            assert_eq!(
                server.get(path).await.status,
                StatusCode::BAD_REQUEST,
                "{path}"
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn wrong_method_is_405_with_allow() {
        let server = TestServer::start().await;
        let reply = server.send(Method::PUT, "/api/books/1", &[], "").await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers.get(header::ALLOW).unwrap(), "GET, DELETE");
        server.stop().await;
    }

    #[tokio::test]
    async fn delete_book_needs_no_auth() {
        let server = TestServer::start().await;
        let reply = server.send(Method::DELETE, "/api/books/1", &[], "").await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(
            server.get("/api/books/1").await.status,
            StatusCode::NOT_FOUND
        );
        let again = server.send(Method::DELETE, "/api/books/1", &[], "").await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        server.stop().await;
    }

    #[tokio::test]
    async fn user_record_is_over_exposed() {
        let server = TestServer::start().await;
        let alice = server.get("/api/users/1").await;
        assert_eq!(alice.status, StatusCode::OK);
        assert_eq!(alice.json["name"], "alice");
        assert_eq!(alice.json["email"], "alice@example.com");
        assert!(alice.json["passwordHash"].is_string());
        assert!(alice.json["ssn"].is_string());
        let bob = server.get("/api/users/2").await;
        assert_eq!(bob.json["name"], "bob");
        server.stop().await;
    }

    #[tokio::test]
    async fn orders_take_stock_and_are_readable_by_anyone() {
        let server = TestServer::start().await;
        let reply = server
            .post_json("/api/orders", r#"{"bookId":1,"quantity":3}"#)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(
            reply.headers.get(header::LOCATION).unwrap(),
            "/api/orders/1"
        );
        assert_eq!(reply.json["total"], 119.97);
        assert_eq!(server.get("/api/books/1").await.json["stock"], 9);
        let fetched = server.get("/api/orders/1").await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.json, reply.json);
        server.stop().await;
    }

    #[tokio::test]
    async fn orders_are_validated() {
        let server = TestServer::start().await;
        for body in [
            r#"{"bookId":1,"quantity":0}"#,
            r#"{"bookId":1,"quantity":11}"#,
            r#"{"quantity":1}"#,
        ] {
            let reply = server.post_json("/api/orders", body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        }
        let missing = server
            .post_json("/api/orders", r#"{"bookId":42,"quantity":1}"#)
            .await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        let too_many = server
            .post_json("/api/orders", r#"{"bookId":2,"quantity":8}"#)
            .await;
        assert_eq!(too_many.status, StatusCode::CONFLICT);
        server.stop().await;
    }

    #[tokio::test]
    async fn zombie_v1_still_lists_books() {
        let server = TestServer::start().await;
        let reply = server.get("/api/v1/books").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json.as_array().unwrap().len(), 3);
        server.stop().await;
    }

    #[tokio::test]
    async fn debug_route_leaks_config() {
        let server = TestServer::start().await;
        let reply = server.get("/api/debug/config").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(content_type(&reply), "application/json");
        assert!(reply.json["db_password"].is_string());
        server.stop().await;
    }

    #[tokio::test]
    async fn echo_reports_the_request() {
        let server = TestServer::start().await;
        let reply = server
            .send(
                Method::PATCH,
                "/api/echo/some/where?a=1&b=two%20words",
                &[("x-test", "yes"), ("content-type", "text/plain")],
                "hello",
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json["method"], "PATCH");
        assert_eq!(reply.json["path"], "/api/echo/some/where");
        assert_eq!(reply.json["query"], "a=1&b=two%20words");
        assert_eq!(reply.json["headers"]["x-test"], "yes");
        assert!(reply.json["headers"]["host"].is_string());
        assert_eq!(reply.json["body"], "hello");
        let plain = server.get("/api/echo").await;
        assert_eq!(plain.json["method"], "GET");
        assert_eq!(plain.json["query"], Value::Null);
        server.stop().await;
    }

    #[tokio::test]
    async fn keep_alive_connection_serves_several_requests() {
        let server = TestServer::start().await;
        for _ in 0..5 {
            assert_eq!(server.get("/api/books/2").await.status, StatusCode::OK);
        }
        server.stop().await;
    }

    #[test]
    fn routes_paths() {
        assert_eq!(route("/api/books"), Route::Books);
        assert_eq!(route("/api/books/7"), Route::Book("7"));
        assert_eq!(route("/api/books/"), Route::Unknown);
        assert_eq!(route("/api/books/7/x"), Route::Unknown);
        assert_eq!(route("/api/echo"), Route::Echo);
        assert_eq!(route("/api/echo/"), Route::Echo);
        assert_eq!(route("/api"), Route::Unknown);
        assert_eq!(route("/books"), Route::Unknown);
    }

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn parses_list_params() {
        let params = ListParams::parse(Some("limit=5&q=Rust&limit=7&x"), false).unwrap();
        assert_eq!(
            params,
            ListParams {
                limit: 5,
                q: Some("rust".into())
            }
        );
        assert_eq!(ListParams::parse(None, false).unwrap().limit, DEFAULT_LIMIT);
        assert!(ListParams::parse(Some("limit=101"), false).is_err());
        assert_eq!(
            ListParams::parse(Some("limit=10000"), true).unwrap().limit,
            10_000
        );
    }

    #[test]
    fn rounds_to_cents() {
        assert_eq!(to_cents(12.99 * 3.0), 38.97);
    }
}
