//! The inspection engine on one value: the normalisers (`normalize`,
//! `fold`, `fold_lines`) and every detector, through
//! `Inspector::inspect_value` at each paranoia level. The first byte
//! picks the kind of value (query, header, JSON string, …) and whether the
//! schema says it is base64 or short; the rest is the value.
//!
//! Properties: no view is longer than the value it comes from; folding a
//! folded view changes nothing; raising the paranoia level never lowers
//! the score; inspecting twice gives the same findings.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moat_inspect::normalize::{fold, fold_lines, normalize};
use moat_inspect::{Hints, InspectOptions, Inspector, Location, Report, ValueKind};

const KINDS: [ValueKind; 11] = [
    ValueKind::Path,
    ValueKind::Query,
    ValueKind::ParamName,
    ValueKind::Header,
    ValueKind::Cookie,
    ValueKind::JsonString,
    ValueKind::JsonKey,
    ValueKind::FormField,
    ValueKind::XmlText,
    ValueKind::GraphqlArgument,
    ValueKind::Query,
];

fn inspectors() -> &'static [Inspector; 4] {
    static I: OnceLock<[Inspector; 4]> = OnceLock::new();
    I.get_or_init(|| {
        [1, 2, 3, 4].map(|paranoia| {
            Inspector::new(InspectOptions {
                paranoia,
                ..InspectOptions::default()
            })
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let views = normalize(value);
    assert!(views.raw.len() <= value.len());
    assert!(
        views.decoded.len() <= views.raw.len(),
        "decoding made {value:?} longer"
    );
    assert!(
        views.folded.len() <= views.decoded.len(),
        "folding made {value:?} longer"
    );
    assert_eq!(fold(&views.folded), views.folded, "folding {value:?} twice");
    let lines = fold_lines(&views.decoded);
    assert!(lines.len() <= views.decoded.len());
    assert_eq!(
        fold_lines(&lines),
        lines,
        "folding the lines of {value:?} twice"
    );

    let kind = KINDS[usize::from(mode & 0x0f) % KINDS.len()];
    let hints = Hints {
        constrained: false,
        max_length: (mode & 0x10 != 0).then_some(16),
        base64: mode & 0x20 != 0,
    };
    let location = Location::query("q");
    let mut last = 0;
    for inspector in inspectors() {
        let mut report = Report::default();
        inspector.inspect_value(&location, value, kind, &hints, &mut report);
        assert!(
            report.score() >= last,
            "{value:?}: a higher paranoia level scored less"
        );
        last = report.score();
        let mut again = Report::default();
        inspector.inspect_value(&location, value, kind, &hints, &mut again);
        assert_eq!(report.findings(), again.findings());
    }
});
