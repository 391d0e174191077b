//! The XML guard, `xml::check` with the default limits, on the input as a
//! request body; an accepted document is then inspected and its SOAP
//! action checked, as the gateway does.
//!
//! Properties: a refusal names its rule; a document larger than the byte
//! limit is refused; an accepted one has a root element, and checking it
//! again gives the same document.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moat_inspect::xml::{self, XmlLimits};
use moat_inspect::{InspectOptions, Inspector, Report};

fn inspector() -> &'static Inspector {
    static I: OnceLock<Inspector> = OnceLock::new();
    I.get_or_init(|| Inspector::new(InspectOptions::default()))
}

fuzz_target!(|data: &[u8]| {
    let limits = XmlLimits {
        max_depth: 16,
        max_attributes: 8,
        max_children: 64,
        max_bytes: 16 * 1024,
        max_text_bytes: 1024,
    };
    match xml::check(data, &limits) {
        Ok(doc) => {
            assert!(data.len() <= limits.max_bytes);
            assert!(!doc.root().is_empty(), "a document without a root name");
            for (_, value) in doc.values() {
                assert!(
                    value.len() <= limits.max_text_bytes,
                    "a value over the text limit"
                );
            }
            let mut report = Report::default();
            doc.inspect(inspector(), &mut report);
            let _ = xml::soap_action_consistent(Some("urn:x#GetUser"), "text/xml", &doc);
            assert_eq!(xml::check(data, &limits).as_ref(), Ok(&doc));
        }
        Err(violation) => {
            assert!(!violation.rule().is_empty());
            let _ = violation.to_string();
        }
    }
});
