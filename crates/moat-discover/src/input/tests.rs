use super::*;

#[test]
fn absolute_urls_become_path_and_query() {
    assert_eq!(
        origin_form("https://api.example.com/v1/users?page=2").unwrap(),
        "/v1/users?page=2"
    );
    assert_eq!(
        origin_form("HTTP://api.example.com:8080/a/b").unwrap(),
        "/a/b"
    );
    assert_eq!(origin_form("https://api.example.com").unwrap(), "/");
    assert_eq!(origin_form("https://api.example.com?x=1").unwrap(), "/?x=1");
    assert_eq!(origin_form("https://h/p?q=1#section").unwrap(), "/p?q=1");
    assert_eq!(
        origin_form("/already/origin?x").unwrap(),
        "/already/origin?x"
    );
}

#[test]
fn urls_that_are_neither_absolute_nor_paths_are_refused() {
    for url in [
        "",
        "ftp://h/x",
        "api.example.com/x",
        "https://",
        "relative/path",
    ] {
        assert_eq!(origin_form(url), Err(SkipReason::BadUrl), "{url:?}");
    }
}

#[test]
fn methods_must_be_tokens() {
    assert_eq!(checked_method("GET").unwrap(), "GET");
    assert_eq!(checked_method("M-SEARCH").unwrap(), "M-SEARCH");
    for bad in ["", "GET /", "GE\nT", "GÉT"] {
        assert_eq!(checked_method(bad), Err(SkipReason::BadMethod), "{bad:?}");
    }
}

#[test]
fn status_zero_is_no_response_and_out_of_range_is_refused() {
    assert_eq!(checked_status(0), Ok(None));
    assert_eq!(checked_status(100), Ok(Some(100)));
    assert_eq!(checked_status(599), Ok(Some(599)));
    assert_eq!(checked_status(99), Err(SkipReason::BadStatus));
    assert_eq!(checked_status(600), Err(SkipReason::BadStatus));
    assert_eq!(checked_status(70_000), Err(SkipReason::BadStatus));
}

#[test]
fn only_the_first_hundred_reasons_are_kept_but_all_are_counted() {
    let mut skips = Skips::default();
    for at in 0..250 {
        skips.record(at, SkipReason::NotAnObject);
    }
    assert_eq!(skips.count, 250);
    assert_eq!(skips.first.len(), MAX_SKIP_REASONS);
    assert_eq!(skips.first.last().map(|s| s.at), Some(99));
}
