//! Taking a request apart into the values inspection looks at.

use moat_request::multipart::Part;
use moat_request::{BodyLimits, Cookies, MediaType, ParsedBody, Query};

use crate::detect::DetectorKind;
use crate::engine::{Hints, Inspector};
use crate::report::{Location, Report, ValueKind};

/// Headers never inspected: the framing and transport of the message
/// (read by the HTTP stack, never by the application), `cookie` (its
/// values are inspected one by one as cookies) and `proxy-authorization`
/// (a credential for the proxy in front, never the application's).
pub const TRANSPORT_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "cookie",
    "expect",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Which request headers are inspected: every header but the
/// [`TRANSPORT_HEADERS`] and the names in `exclude` (lower case). Custom
/// client headers (`x-client-version`), `accept-language`, `referer` and
/// `user-agent` are all read or logged by some application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSelection {
    exclude: Vec<String>,
}

impl HeaderSelection {
    /// Every header but the transport ones and `exclude` (any case).
    pub fn excluding<S: AsRef<str>>(exclude: &[S]) -> Self {
        Self {
            exclude: exclude
                .iter()
                .map(|n| n.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the header `name` (lower case) is inspected.
    pub fn inspects(&self, name: &str) -> bool {
        !TRANSPORT_HEADERS.contains(&name) && !self.exclude.iter().any(|e| e == name)
    }
}

/// The parts of a request, as the request view read them (see
/// `moat-request`): inspection reads the same values as every other
/// control, never its own parse of the raw request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The decoded path segments.
    pub segments: &'a [String],
    /// Bit `i` set: segment `i` (of the first 64) is the document's own
    /// word (the API's base path, or a literal segment of the matched path
    /// template) and is not inspected.
    pub documented_segments: u64,
    /// The decoded query.
    pub query: &'a Query,
    /// Header names (lower case) and values.
    pub headers: &'a [(&'a str, &'a str)],
    /// Headers (lower case) whose values a verifier consumed as
    /// credentials (`authorization` when a bearer token or basic
    /// credentials were verified, an API key's header): not inspected,
    /// their content is the credential. A credential header no verifier
    /// read is a value like any other.
    pub credentials: &'a [&'a str],
    /// The cookies.
    pub cookies: &'a Cookies,
    /// The body's bytes and how the view parsed them, when the caller has
    /// the body in memory.
    pub body: Option<(&'a [u8], &'a ParsedBody)>,
}

/// A request built from raw text, owning its views: for tests, benchmarks
/// and corpora, which start from text rather than from the gateway.
#[derive(Debug, Clone)]
pub struct RawRequest {
    segments: Vec<String>,
    query: Query,
    headers: Vec<(String, String)>,
    cookies: Cookies,
    body: Option<(Vec<u8>, ParsedBody)>,
}

impl RawRequest {
    /// Parses `path` (percent-encoded), `query`, headers and a body of
    /// `media` with the request view's parsers. `Err` says why the view
    /// refuses the request.
    pub fn parse(
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Option<(&str, &[u8])>,
    ) -> Result<RawRequest, String> {
        let path = moat_request::CanonicalPath::parse(path).map_err(|e| e.reason().to_string())?;
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        let body = match body {
            Some((media, bytes)) => {
                let media = MediaType::parse(media).map_err(|e| e.to_string())?;
                let parsed = ParsedBody::parse(Some(&media), bytes, &BodyLimits::default())
                    .map_err(|e| e.to_string())?;
                Some((bytes.to_vec(), parsed))
            }
            None => None,
        };
        Ok(RawRequest {
            segments: path.segments().to_vec(),
            query: query.map(Query::parse).unwrap_or_default(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            cookies: Cookies::parse(&map),
            body,
        })
    }

    /// Inspects the request.
    pub fn inspect<H: HintSource>(&self, inspector: &Inspector, hints: &H, report: &mut Report) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let parts = RequestParts {
            segments: &self.segments,
            documented_segments: 0,
            query: &self.query,
            headers: &headers,
            credentials: &[],
            cookies: &self.cookies,
            body: self.body.as_ref().map(|(b, p)| (b.as_slice(), p)),
        };
        inspector.inspect_request(&parts, hints, report);
    }
}

/// Hints for each place of a request, from the API's document.
///
/// A JSON body is walked together with its schema: the walk keeps a
/// [`At`](HintSource::At) (where it is in the schema) and steps it down
/// with each key or index, so that looking up the hints of a value costs
/// one step, not a walk from the root.
pub trait HintSource {
    /// A place in the body's schema, as the source keeps it.
    type At<'s>: Copy
    where
        Self: 's;

    /// Hints for a query parameter, path parameter, header or cookie.
    fn param(&self, part: &'static str, name: &str) -> Hints;
    /// The body's schema, where a walk starts; `None` when there is none.
    fn body_root(&self) -> Option<Self::At<'_>>;
    /// The schema of `segment` (a property name, or an array index in
    /// decimal) inside `at`.
    fn body_child<'s>(&'s self, at: Self::At<'s>, segment: &str) -> Option<Self::At<'s>>;
    /// The hints the schema at `at` gives its value.
    fn body_hints(&self, at: Self::At<'_>) -> Hints;

    /// Hints for a JSON pointer into the body.
    fn body(&self, pointer: &str) -> Hints {
        let Some(mut at) = self.body_root() else {
            return Hints::default();
        };
        for raw in pointer.split('/').skip(1) {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            match self.body_child(at, &segment) {
                Some(next) => at = next,
                None => return Hints::default(),
            }
        }
        self.body_hints(at)
    }
}

/// No hints: every value is free text.
pub struct NoHints;

impl HintSource for NoHints {
    type At<'s> = ();

    fn param(&self, _: &'static str, _: &str) -> Hints {
        Hints::default()
    }
    fn body_root(&self) -> Option<()> {
        None
    }
    fn body_child(&self, _: (), _: &str) -> Option<()> {
        None
    }
    fn body_hints(&self, _: ()) -> Hints {
        Hints::default()
    }
}

impl Inspector {
    /// Inspects every place of a request: path segments, query names and
    /// values, the headers the options select ([`HeaderSelection`]) but
    /// the consumed credentials, cookies, and JSON, form, multipart
    /// and text bodies. Other media types are left to their own inspectors
    /// (GraphQL, XML).
    pub fn inspect_request<H: HintSource>(
        &self,
        parts: &RequestParts<'_>,
        hints: &H,
        report: &mut Report,
    ) {
        for (i, segment) in parts.segments.iter().enumerate() {
            if i < 64 && parts.documented_segments & (1 << i) != 0 {
                continue;
            }
            self.inspect_at(
                || Location::new("path", i.to_string()),
                segment,
                ValueKind::Path,
                &Hints::default(),
                report,
            );
        }
        self.inspect_pairs(
            parts.query.pairs(),
            "query",
            ValueKind::Query,
            hints,
            report,
        );
        for (name, value) in parts.cookies.pairs() {
            let h = hints.param("cookie", name);
            self.inspect_at(
                || Location::new("cookie", name.as_str()),
                value,
                ValueKind::Cookie,
                &h,
                report,
            );
        }
        for (name, value) in parts.headers {
            if *name == "user-agent"
                && self.options().detectors.contains(&DetectorKind::AttackTool)
                && let Some(f) = crate::tools::finding(value, self.options().attack_tools)
            {
                report.push(f);
            }
            if self.options().headers.inspects(name) && !parts.credentials.contains(name) {
                let h = hints.param("header", name);
                self.inspect_header(name, value, &h, report);
            }
        }
        let Some((bytes, parsed)) = parts.body else {
            return;
        };
        match parsed {
            ParsedBody::Json(value) => self.inspect_json(value, hints, report),
            ParsedBody::Form(form) => {
                self.inspect_pairs(form.pairs(), "body", ValueKind::FormField, hints, report)
            }
            ParsedBody::Multipart(multipart) => {
                self.inspect_multipart(bytes, multipart, hints, report)
            }
            // XML reaches here only when no XML guard took it apart first
            // (the gateway passes XML values one by one): read as text.
            ParsedBody::Text | ParsedBody::Xml => {
                let text = String::from_utf8_lossy(bytes);
                self.inspect_at(
                    || Location::body(""),
                    &text,
                    ValueKind::FormField,
                    &Hints::default(),
                    report,
                );
            }
            ParsedBody::Empty | ParsedBody::Graphql | ParsedBody::Opaque => {}
        }
    }

    /// Inspects the parts of a `multipart/form-data` body as frameworks
    /// read them: each part's name and file names (`filename` and the
    /// decoded `filename*`), and its content when it is a field (no file
    /// name, whatever its type) or text; the parts nested in a
    /// `multipart/mixed` part likewise. Binary file contents are not
    /// inspected.
    fn inspect_multipart<H: HintSource>(
        &self,
        body: &[u8],
        parts: &[Part],
        hints: &H,
        report: &mut Report,
    ) {
        for part in parts {
            let name = part.name.as_deref().unwrap_or_default();
            self.inspect_at(
                || Location::new("body", format!("{name}#name")),
                name,
                ValueKind::ParamName,
                &Hints::default(),
                report,
            );
            for file in part.filenames() {
                self.inspect_at(
                    || Location::new("body", format!("{name}#filename")),
                    file,
                    ValueKind::FormField,
                    &Hints::default(),
                    report,
                );
            }
            let text = part.content_type.as_ref().is_none_or(|c| c.is_text());
            if part.nested.is_empty() && (part.is_field() || text) {
                let value =
                    String::from_utf8_lossy(body.get(part.data.clone()).unwrap_or_default());
                let h = if part.is_field() {
                    hints.body(&format!("/{name}"))
                } else {
                    Hints::default()
                };
                self.inspect_at(
                    || Location::new("body", name),
                    &value,
                    ValueKind::FormField,
                    &h,
                    report,
                );
            }
            self.inspect_multipart(body, &part.nested, hints, report);
        }
    }

    /// Inspects decoded `name=value` pairs.
    fn inspect_pairs<H: HintSource>(
        &self,
        pairs: &[(String, String)],
        part: &'static str,
        kind: ValueKind,
        hints: &H,
        report: &mut Report,
    ) {
        for (name, value) in pairs {
            self.inspect_at(
                || Location::new(part, format!("{name}#name")),
                name,
                ValueKind::ParamName,
                &Hints::default(),
                report,
            );
            let h = if part == "query" {
                hints.param("query", name)
            } else {
                hints.body(&format!("/{name}"))
            };
            self.inspect_at(
                || Location::new(part, name.as_str()),
                value,
                kind,
                &h,
                report,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InspectOptions;

    fn places(req: &RawRequest) -> (bool, Vec<String>) {
        let inspector = Inspector::new(InspectOptions::default());
        let mut report = Report::default();
        req.inspect(&inspector, &NoHints, &mut report);
        let found = report
            .findings()
            .iter()
            .map(|f| f.location.to_string())
            .collect();
        (inspector.blocks(&report), found)
    }

    fn multipart(body: &[u8]) -> RawRequest {
        RawRequest::parse(
            "/upload",
            None,
            &[],
            Some(("multipart/form-data; boundary=XyZ", body)),
        )
        .unwrap()
    }

    /// Hints whose body schema declares `names` at the root (and nothing
    /// else).
    struct Declares(&'static [&'static str]);

    impl HintSource for Declares {
        type At<'s> = bool;

        fn param(&self, _: &'static str, _: &str) -> Hints {
            Hints::default()
        }
        fn body_root(&self) -> Option<bool> {
            Some(true)
        }
        fn body_child(&self, at: bool, segment: &str) -> Option<bool> {
            (at && self.0.contains(&segment)).then_some(false)
        }
        fn body_hints(&self, _: bool) -> Hints {
            Hints::default()
        }
    }

    #[test]
    fn header_values_seen_clean_are_remembered_and_attacks_never_are() {
        let inspector = Inspector::new(InspectOptions::default());
        let request = |ua: &str| {
            RawRequest::parse(
                "/q",
                None,
                &[
                    ("user-agent".to_string(), ua.to_string()),
                    ("accept-language".to_string(), "en-GB,en;q=0.9".to_string()),
                ],
                None,
            )
            .unwrap()
        };
        let score = |req: &RawRequest| {
            let mut report = Report::default();
            req.inspect(&inspector, &NoHints, &mut report);
            report.score()
        };
        let browser = request("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
        let attack = request("Mozilla/5.0' UNION SELECT password FROM users--");
        for _ in 0..3 {
            assert_eq!(score(&browser), 0);
            assert!(inspector.blocks(&{
                let mut r = Report::default();
                attack.inspect(&inspector, &NoHints, &mut r);
                r
            }));
        }
        assert!(inspector.seen_clean.contains(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
        ));
        assert!(!inspector.seen_clean.contains(
            "user-agent",
            "Mozilla/5.0' UNION SELECT password FROM users--"
        ));
    }

    #[test]
    fn json_keys_the_schema_declares_are_not_inspected() {
        let body = br#"{"$where": "1", "nested": {"$ne": "x"}}"#;
        let req = RawRequest::parse("/q", None, &[], Some(("application/json", body))).unwrap();
        let found = |hints: &dyn Fn(&Inspector, &mut Report)| {
            let inspector = Inspector::new(InspectOptions::default());
            let mut report = Report::default();
            hints(&inspector, &mut report);
            report
                .findings()
                .iter()
                .map(|f| f.location.to_string())
                .collect::<Vec<_>>()
        };
        let all = found(&|i, r| req.inspect(i, &NoHints, r));
        assert_eq!(all, ["body:/$where", "body:/nested/$ne"]);
        // `$where` is the document's own property; `$ne` inside an
        // undeclared object is still the client's.
        let declared = found(&|i, r| req.inspect(i, &Declares(&["$where", "nested"]), r));
        assert_eq!(declared, ["body:/nested/$ne"]);
    }

    #[test]
    fn multipart_fields_are_inspected() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello O'Brien\r\n--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' UNION SELECT password FROM users--\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG' OR '1'='1\r\n--XyZ--\r\n";
        let (blocked, found) = places(&multipart(body));
        assert!(blocked);
        assert_eq!(found, ["body:q"], "binary file contents are not inspected");
    }

    #[test]
    fn multipart_is_read_as_frameworks_read_it() {
        // A typed part without a file name is a field.
        let typed = b"--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Type: application/octet-stream\r\n\r\n1' UNION SELECT password FROM users--\r\n--XyZ--\r\n";
        assert_eq!(
            places(&multipart(typed)),
            (true, vec!["body:q".to_string()])
        );
        // filename* is decoded and inspected.
        let star = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"; filename*=UTF-8''..%2F..%2F..%2Fetc%2Fpasswd\r\nContent-Type: image/png\r\n\r\nx\r\n--XyZ--\r\n";
        let (blocked, found) = places(&multipart(star));
        assert!(blocked);
        assert_eq!(found, ["body:f#filename"]);
        // Nested multipart/mixed parts are inspected.
        let nested = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Disposition: file; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n<script>alert(document.cookie)</script>\r\n--in--\r\n--XyZ--\r\n";
        assert!(places(&multipart(nested)).0);
    }
}
