//! `MediaType::parse` on a `Content-Type` value.
//!
//! Properties: the essence is lower case, printable ASCII, with exactly one
//! `/` between a non-empty type and subtype; the classifications agree with
//! the essence; the parsed form reads back equal; parameter lookup ignores
//! case; a parameter value is a token or a quoted string's content, so it
//! never holds a `"`; a repeated parameter is named in lower case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_request::media::essence_of;
use moat_request::{MediaType, MediaTypeError};

/// The parameter names the text seems to give: what stands before each `=`
/// of each `;`-piece, and the usual ones.
fn candidate_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = ["boundary", "charset"].map(String::from).to_vec();
    for piece in text.split(';').skip(1) {
        if let Some((name, _)) = piece.split_once('=') {
            names.push(name.trim().to_string());
        }
    }
    names
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match MediaType::parse(text) {
        Ok(m) => {
            let e = m.essence();
            assert_eq!(e, e.to_ascii_lowercase(), "essence not lower case");
            assert!(e.bytes().all(|b| b.is_ascii_graphic()), "essence {e:?}");
            assert_eq!(e.matches('/').count(), 1, "essence {e:?} has not one `/`");
            let (ty, sub) = e.split_once('/').expect("one slash");
            assert!(!ty.is_empty() && !sub.is_empty(), "essence {e:?} has an empty half");
            assert_eq!(essence_of(text), e);

            assert_eq!(m.is_json(), e == "application/json" || e.ends_with("+json"));
            assert_eq!(m.is_form(), e == "application/x-www-form-urlencoded");
            assert_eq!(m.is_multipart(), ty == "multipart");
            assert_eq!(m.is_xml(), sub == "xml" || e.ends_with("+xml"));
            assert_eq!(m.is_text(), ty == "text");

            let shown = format!("{m:?}");
            let again = MediaType::parse(&shown)
                .unwrap_or_else(|err| panic!("{shown:?} does not read back: {err}"));
            assert_eq!(again, m, "{shown:?} reads back differently");

            for name in candidate_names(text) {
                let Some(value) = m.param(&name) else {
                    continue;
                };
                assert!(
                    !value.contains('"'),
                    "parameter {name:?} has the value {value:?}, which holds a quote"
                );
                assert_eq!(m.param(&name.to_ascii_uppercase()), Some(value));
                assert_eq!(m.param(&name.to_ascii_lowercase()), Some(value));
                assert_eq!(again.param(&name), Some(value));
            }
        }
        Err(MediaTypeError::Repeated(r)) => {
            assert_eq!(r.name, r.name.to_ascii_lowercase());
            assert!(
                text.to_ascii_lowercase().matches(&r.name).count() >= 2,
                "{:?} is said to be repeated in {text:?}",
                r.name
            );
        }
        Err(MediaTypeError::Invalid) => {}
    }
});
