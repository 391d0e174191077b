use super::*;
use crate::auth::AuthPresence;
use crate::drift::Standing;
use crate::inventory::tests::inventory;
use crate::inventory::{
    AnswerField, Auth, FactorView, InputStats, Judgement, NamedParameter, Orphan, ParamLocation,
    Parameter, RiskCounts, RiskView, SchemaDriftView, SchemeCount, SensitiveFinding, Summary,
    Zombie,
};
use crate::risk::RiskLevel;
use crate::sensitive::SensitiveKind;

/// An inventory whose every name came from hostile traffic or a hostile
/// document: markup in the method, the path, a parameter, a location and
/// an orphan.
fn hostile() -> Inventory {
    let op = Operation {
        method: "GET".into(),
        path: "/<script>alert(1)</script>/{id}".into(),
        requests: 3,
        judgement: Some(Judgement {
            standing: Standing::Shadow,
            documented_as: None,
        }),
        parameters: vec![Parameter {
            name: "<img src=x onerror=alert(2)>".into(),
            location: ParamLocation::Query,
            value_type: "string",
            format: None,
            required: false,
            repeated: false,
            enumeration: None,
        }],
        zombie: vec![Zombie {
            reason: "older_version",
            newer: Some("/v2/<i>new</i>".into()),
        }],
        statuses: vec![200],
        content_types: [("text/<x>".to_string(), 1)].into_iter().collect(),
        auth: Some(Auth {
            presence: AuthPresence::Sometimes,
            schemes: vec![SchemeCount {
                scheme: "api_key:header:<u>key</u>".into(),
                requests: 2,
            }],
        }),
        sensitive: vec![SensitiveFinding {
            location: "request.body#/\"><b>|x|*y*`z`[l](u)&amp;".into(),
            kind: SensitiveKind::Password,
            count: 2,
        }],
        schema_drift: Some(SchemaDriftView {
            parameters: vec![NamedParameter {
                location: ParamLocation::Header,
                name: "<s>hdr</s>".into(),
            }],
            request_fields: vec!["/<em>admin</em>".into()],
            answer_fields: vec![AnswerField {
                status: 200,
                pointer: "/<q>secret</q>".into(),
                sensitive: vec![SensitiveKind::Email],
            }],
            undocumented_statuses: vec![500],
            uncompared: Vec::new(),
        }),
        risk: RiskView {
            score: 45,
            level: RiskLevel::High,
            factors: vec![FactorView {
                factor: "shadow",
                weight: 20,
                explain: "not in the document".into(),
            }],
        },
    };
    Inventory {
        operations: vec![op],
        orphans: Some(vec![Orphan {
            method: "POST".into(),
            path: "/a'b\"c</td>\n| x |".into(),
        }]),
        summary: Summary {
            operations: 1,
            with_sensitive_data: 1,
            risk: RiskCounts {
                high: 1,
                medium: 0,
                low: 0,
            },
            with_schema_drift: Some(1),
            standings: Some(Default::default()),
        },
        input: InputStats::new(3, 0, 0),
    }
}

#[test]
fn html_escapes_every_value_from_traffic() {
    let page = html("<b>title</b>", &hostile());
    for raw in [
        "<script>", "<img", "<b>", "\"><", "</td>\n", "'b", "<i>", "<u>", "<s>", "<em>", "<q>",
    ] {
        assert!(!page.contains(raw), "{raw:?} unescaped in {page}");
    }
    for escaped in [
        "/&lt;script&gt;alert(1)&lt;/script&gt;/{id}",
        "&lt;img src=x onerror=alert(2)&gt; (query, string, optional)",
        "request.body#/&quot;&gt;&lt;b&gt;|x|*y*`z`[l](u)&amp;amp;",
        "/a&#39;b&quot;c&lt;/td&gt;",
        "<title>&lt;b&gt;title&lt;/b&gt;</title>",
        "older version of /v2/&lt;i&gt;new&lt;/i&gt;",
        "api_key:header:&lt;u&gt;key&lt;/u&gt; (2)",
        "header parameter &lt;s&gt;hdr&lt;/s&gt;",
        "request field /&lt;em&gt;admin&lt;/em&gt;",
        "answer 200 field /&lt;q&gt;secret&lt;/q&gt; (exposes email)",
        "shadow (+20): not in the document",
        "high 45",
        "200 (text/&lt;x&gt;)",
    ] {
        assert!(page.contains(escaped), "{escaped} not in {page}");
    }
    // Self-contained: no script, nothing fetched, and the policy says so.
    assert!(!page.contains("<script") && !page.contains("src=\"") && !page.contains("href="));
    assert!(page.contains("default-src 'none'"));
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
}

#[test]
fn markdown_escapes_every_value_from_traffic() {
    let doc = markdown("API", &hostile());
    // Outside the table's own cell separators, every character that could
    // start markup is backslash-escaped, and no value breaks a line.
    let unescaped: Vec<&str> = doc
        .lines()
        .flat_map(|line| line.split(" | "))
        .map(|cell| cell.trim_matches('|').trim())
        .filter(|cell| {
            let mut prev = ' ';
            cell.chars().any(|c| {
                let bad = "<>|*`[]&".contains(c) && prev != '\\';
                prev = if prev == '\\' { ' ' } else { c };
                bad
            })
        })
        .collect();
    assert!(unescaped.is_empty(), "{unescaped:?} in {doc}");
    assert!(!doc.contains("\n| x |"), "{doc}");
    assert!(
        doc.contains(r"/\<script\>alert(1)\</script\>/{id}"),
        "{doc}"
    );
    assert!(doc.contains(r"request.body\#/"), "{doc}");
    // Every table row has as many cells as its header.
    for table in doc.split("\n\n").filter(|b| b.starts_with('|')) {
        let cells = |row: &str| row.replace(r"\|", "").matches('|').count();
        let mut rows = table.lines();
        let header = cells(rows.next().unwrap());
        assert!(rows.all(|r| cells(r) == header), "{table}");
    }
}

#[test]
fn markdown_shows_the_summary_the_operations_the_sensitive_data_and_the_orphans() {
    let doc = markdown("Shop", &inventory(true));
    assert!(doc.starts_with("# Shop\n"), "{doc}");
    assert!(
        doc.contains("12 requests read, 4 operations found, 4 with sensitive data."),
        "{doc}"
    );
    assert!(
        doc.contains(
            "3 entries skipped: 2 malformed, 1 with a path that has no one canonical form."
        ),
        "{doc}"
    );
    assert!(
        doc.contains("Against the document: 2 documented, 1 shadow, 1 zombie, 1 orphan."),
        "{doc}"
    );
    assert!(
        doc.contains(
            "| GET | /users/{userId} | 7 | documented | high 45 | 200, 404 (application/json) | userId (path, integer) |"
        ),
        "{doc}"
    );
    assert!(doc.contains("| GET | /v1/users | 1 | zombie |"), "{doc}");
    assert!(
        doc.contains(r"| GET | /\_debug/vars | 1 | shadow |"),
        "{doc}"
    );
    assert!(
        doc.contains("| GET /users/{userId} | response.body\\#/email | email | 6 |"),
        "{doc}"
    );
    assert!(
        doc.contains("## Orphans\n") && doc.contains("| DELETE | /users/{id} |"),
        "{doc}"
    );
    // Risk with its factors, credentials, zombies and schema drift.
    assert!(
        doc.contains("| GET /users/{userId} | 45 | high | excessive\\_data\\_exposure (+20)"),
        "{doc}"
    );
    assert!(
        doc.contains("| GET /users | always | bearer\\_opaque (3) |"),
        "{doc}"
    );
    assert!(doc.contains("| GET /v1/users | deprecated |"), "{doc}");
    assert!(
        doc.contains("| GET /users/{userId} | answer 200 field /email (exposes email) |"),
        "{doc}"
    );
    assert!(
        doc.contains("| GET /users | query parameter page |"),
        "{doc}"
    );
    assert!(!doc.contains("example.com"), "{doc}");
}

#[test]
fn without_a_document_the_reports_have_no_standing_and_no_orphans() {
    let inv = inventory(false);
    let doc = markdown("Shop", &inv);
    assert!(
        !doc.contains("Standing") && !doc.contains("Orphans") && !doc.contains("documented"),
        "{doc}"
    );
    let page = html("Shop", &inv);
    assert!(
        !page.contains("Standing") && !page.contains("Orphans"),
        "{page}"
    );
    assert!(
        page.contains(
            "<td><code>/users/{userId}</code></td><td class=\"n\">7</td><td class=\"low\">low 15</td><td>200, 404 (application/json)</td>"
        ),
        "{page}"
    );
}
