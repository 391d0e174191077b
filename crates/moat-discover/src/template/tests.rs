use super::*;

fn ops(t: &Templater) -> Vec<String> {
    t.operations()
        .iter()
        .map(|o| format!("{} {}", o.method, o.template()))
        .collect()
}

/// A capture in the shape the field's tools get wrong: ids that are
/// numbers, UUIDs, usernames and free-text titles, beside literal routes
/// that sit where an id could be.
fn capture() -> Templater {
    let mut t = Templater::new();
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    let titles = [
        "Dune",
        "Dune Messiah",
        "Children of Dune",
        "It's a Trap",
        "The \"Quoted\" Book",
        "Hyperion",
        "Neuromancer",
    ];
    for round in 0..3 {
        // Resources: few, requested again and again.
        t.observe("GET", "/api/v1/books").unwrap();
        t.observe("GET", "/api/v1/authors").unwrap();
        t.observe("POST", "/api/v1/books").unwrap();
        t.observe("GET", "/api/v1/users/me").unwrap();
        t.observe("GET", "/api/v1/users/me").unwrap();
        t.observe("POST", "/api/v1/login").unwrap();
        t.observe("GET", "/api/v1/books/search").unwrap();
        for id in 0..5 {
            t.observe("GET", &format!("/api/v1/books/{}", 100 + id + round * 7))
                .unwrap();
            t.observe("GET", &format!("/api/v1/authors/{}", 7 + id * 3 + round))
                .unwrap();
        }
        t.observe("DELETE", &format!("/api/v1/books/{}", 900 + round))
            .unwrap();
    }
    for (i, u) in users.iter().enumerate() {
        t.observe("GET", &format!("/api/v1/users/{u}")).unwrap();
        t.observe("GET", &format!("/api/v1/users/{u}/posts"))
            .unwrap();
        if i % 2 == 0 {
            t.observe("PUT", &format!("/api/v1/users/{u}")).unwrap();
        }
    }
    for title in titles {
        let encoded: String = title
            .chars()
            .map(|c| match c {
                ' ' => "%20".to_string(),
                '"' => "%22".to_string(),
                '\'' => "%27".to_string(),
                c => c.to_string(),
            })
            .collect();
        t.observe("GET", &format!("/api/v1/titles/{encoded}"))
            .unwrap();
    }
    for _ in 0..4 {
        let uuid = format!(
            "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a{:02x}",
            t.root.requests % 255
        );
        t.observe("GET", &format!("/api/v1/orders/{uuid}")).unwrap();
        t.observe("GET", &format!("/api/v1/orders/{uuid}/items"))
            .unwrap();
    }
    t.observe("GET", "/_debug/vars").unwrap();
    t
}

#[test]
fn the_capture_gives_exactly_its_operations() {
    let got = ops(&capture());
    let want = [
        "GET /_debug/vars",
        "GET /api/v1/authors",
        "GET /api/v1/authors/{authorId}",
        "GET /api/v1/books",
        "POST /api/v1/books",
        "GET /api/v1/books/search",
        "DELETE /api/v1/books/{bookId}",
        "GET /api/v1/books/{bookId}",
        "POST /api/v1/login",
        "GET /api/v1/orders/{orderId}",
        "GET /api/v1/orders/{orderId}/items",
        "GET /api/v1/titles/{title}",
        "GET /api/v1/users/me",
        "GET /api/v1/users/{user}",
        "PUT /api/v1/users/{user}",
        "GET /api/v1/users/{user}/posts",
    ];
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want, "{got:#?}");
}

#[test]
fn parameters_say_what_their_values_looked_like() {
    let t = capture();
    let kinds: BTreeMap<String, SegmentKind> = t
        .operations()
        .iter()
        .flat_map(|o| o.parts.clone())
        .filter_map(|p| match p {
            Part::Param { name, kind } => Some((name, kind)),
            Part::Literal(_) => None,
        })
        .collect();
    assert_eq!(kinds["bookId"], SegmentKind::Integer);
    assert_eq!(kinds["orderId"], SegmentKind::Uuid);
    assert_eq!(
        kinds["title"],
        SegmentKind::Text,
        "titles mix words and text"
    );
    assert_eq!(kinds["user"], SegmentKind::Word);
}

#[test]
fn few_resources_requested_often_stay_literals() {
    let mut t = Templater::new();
    for _ in 0..20 {
        for r in ["books", "authors", "orders", "notes", "tags"] {
            t.observe("GET", &format!("/api/{r}")).unwrap();
        }
    }
    assert_eq!(ops(&t).len(), 5, "{:?}", ops(&t));
    assert!(ops(&t).contains(&"GET /api/notes".to_string()));
}

#[test]
fn a_trailing_slash_and_the_root_are_their_own_paths() {
    let mut t = Templater::new();
    t.observe("GET", "/").unwrap();
    t.observe("GET", "/books/").unwrap();
    t.observe("GET", "/books").unwrap();
    assert_eq!(ops(&t), ["GET /", "GET /books", "GET /books/"]);
}

#[test]
fn a_path_without_a_canonical_form_is_refused() {
    let mut t = Templater::new();
    assert!(t.observe("GET", "/a/%2F/b").is_err());
    assert!(t.observe("GET", "/../etc").is_err());
    assert!(ops(&t).is_empty());
}

#[test]
fn popular_ids_with_the_sub_resources_of_their_siblings_stay_values() {
    let mut t = Templater::new();
    // One user requested far more often than the rest, as real traffic
    // does: it leads to the same sub-resources, so it is one of them.
    for _ in 0..30 {
        t.observe("GET", "/users/carol").unwrap();
    }
    t.observe("GET", "/users/carol/posts").unwrap();
    for u in ["dave", "erin", "frank", "grace", "heidi"] {
        t.observe("GET", &format!("/users/{u}")).unwrap();
        t.observe("GET", &format!("/users/{u}/posts")).unwrap();
    }
    assert_eq!(
        ops(&t),
        ["GET /users/{user}", "GET /users/{user}/posts"],
        "{:?}",
        ops(&t)
    );
}

#[test]
fn a_popular_word_with_routes_of_its_own_stays_a_literal() {
    let mut t = Templater::new();
    for _ in 0..20 {
        t.observe("GET", "/accounts/primary/limits").unwrap();
    }
    for a in ["anna", "ben", "chloe", "dan", "eve"] {
        t.observe("GET", &format!("/accounts/{a}/invoices"))
            .unwrap();
    }
    assert_eq!(
        ops(&t),
        [
            "GET /accounts/primary/limits",
            "GET /accounts/{account}/invoices"
        ]
    );
}

#[test]
fn words_beside_free_text_are_values_and_beside_typed_ids_routes() {
    let mut t = Templater::new();
    for title in ["Main%20Page", "It%27s%20Here", "FAQ", "Style%20Guide"] {
        t.observe("GET", &format!("/wiki/{title}")).unwrap();
    }
    for _ in 0..8 {
        t.observe("GET", "/wiki/glossary").unwrap();
        t.observe("GET", "/books/featured").unwrap();
    }
    for id in 1..=6 {
        t.observe("GET", &format!("/books/{id}")).unwrap();
    }
    assert_eq!(
        ops(&t),
        [
            "GET /books/featured",
            "GET /books/{bookId}",
            "GET /wiki/{wiki}"
        ]
    );
}

#[test]
fn a_few_words_that_lead_to_the_same_word_are_values() {
    let mut t = Templater::new();
    // A small capture: three posts, each read and commented once.
    for slug in ["hello-world", "rust-tips", "why-we-moved"] {
        t.observe("GET", &format!("/posts/{slug}")).unwrap();
        t.observe("GET", &format!("/posts/{slug}/comments"))
            .unwrap();
    }
    assert_eq!(ops(&t), ["GET /posts/{post}", "GET /posts/{post}/comments"]);
    // Versions lead to the same words too, but are requested again and
    // again, and are routes even when seen once.
    let mut t = Templater::new();
    for _ in 0..10 {
        t.observe("GET", "/v1/books").unwrap();
        t.observe("GET", "/v2/books").unwrap();
    }
    assert_eq!(ops(&t), ["GET /v1/books", "GET /v2/books"]);
    let mut t = Templater::new();
    t.observe("GET", "/v1/books").unwrap();
    t.observe("GET", "/v2.1/books").unwrap();
    assert_eq!(ops(&t), ["GET /v1/books", "GET /v2.1/books"]);
}

#[test]
fn a_plural_collection_holds_items_and_a_singular_name_routes() {
    let mut t = Templater::new();
    for tag in ["rust", "wasm", "rust", "embedded", "rust"] {
        t.observe("GET", &format!("/tags/{tag}")).unwrap();
    }
    // The same few words under a name that is no collection, or under a
    // collection but requested again and again, are routes.
    for _ in 0..2 {
        for page in ["profile", "billing", "security"] {
            t.observe("GET", &format!("/account/{page}")).unwrap();
        }
    }
    for _ in 0..10 {
        t.observe("GET", "/reports/sales").unwrap();
        t.observe("GET", "/reports/stock").unwrap();
    }
    assert_eq!(
        ops(&t),
        [
            "GET /account/billing",
            "GET /account/profile",
            "GET /account/security",
            "GET /reports/sales",
            "GET /reports/stock",
            "GET /tags/{tag}"
        ]
    );
}

#[test]
fn many_names_each_requested_again_and_again_stay_literals() {
    let mut t = Templater::new();
    let resources = [
        "books",
        "authors",
        "orders",
        "notes",
        "tags",
        "users",
        "carts",
        "reviews",
        "stores",
        "coupons",
        "invoices",
        "payments",
        "refunds",
        "shipments",
    ];
    for _ in 0..15 {
        for r in resources {
            t.observe("GET", &format!("/api/{r}")).unwrap();
        }
    }
    assert_eq!(ops(&t).len(), resources.len(), "{:?}", ops(&t));
}

#[test]
fn a_stray_free_text_path_does_not_make_the_resources_a_parameter() {
    let mut t = Templater::new();
    for _ in 0..10 {
        for r in ["api", "static", "assets"] {
            t.observe("GET", &format!("/{r}")).unwrap();
        }
    }
    t.observe("GET", "/Favicon.ico").unwrap();
    assert_eq!(
        ops(&t),
        ["GET /api", "GET /assets", "GET /static", "GET /{id}"]
    );
}

#[test]
fn a_value_that_looks_plural_is_no_collection() {
    let mut t = Templater::new();
    // A small capture whose first user is `james`: his two sub-resources
    // are routes, not the items of a collection named `james`.
    for u in ["james", "kim", "lee", "max", "ola"] {
        t.observe("GET", &format!("/users/{u}")).unwrap();
    }
    t.observe("GET", "/users/james/posts").unwrap();
    t.observe("GET", "/users/james/followers").unwrap();
    assert_eq!(
        ops(&t),
        [
            "GET /users/{user}",
            "GET /users/{user}/followers",
            "GET /users/{user}/posts"
        ]
    );
}

#[test]
fn a_few_items_built_alike_are_values_however_often_each_is_requested() {
    let mut t = Templater::new();
    // Six stores, each requested again and again, each with the same
    // sub-resources (one not seen with all of them yet).
    for round in 0..40 {
        for store in ["oslo", "rome", "lyon", "porto", "gent", "bern"] {
            t.observe("GET", &format!("/stores/{store}/products"))
                .unwrap();
            if round % 2 == 0 && store != "bern" {
                t.observe("GET", &format!("/stores/{store}/hours")).unwrap();
            }
        }
    }
    // Resources that share only a route word (`search`), and reports
    // of which one leads somewhere its siblings do not, stay routes.
    for _ in 0..20 {
        for resource in ["users", "groups", "teams"] {
            t.observe("GET", &format!("/{resource}/search")).unwrap();
        }
        t.observe("GET", "/reports/sales/daily").unwrap();
        t.observe("GET", "/reports/stock/daily").unwrap();
        t.observe("GET", "/reports/returns/monthly").unwrap();
    }
    assert_eq!(
        ops(&t),
        [
            "GET /groups/search",
            "GET /reports/returns/monthly",
            "GET /reports/sales/daily",
            "GET /reports/stock/daily",
            "GET /stores/{store}/hours",
            "GET /stores/{store}/products",
            "GET /teams/search",
            "GET /users/search"
        ]
    );
}
