//! Evidence as a command a person can run: `curl` with every credential
//! the scan's identity added replaced by a placeholder naming it.

use crate::client::Exchange;

/// Headers whose values are credentials, whoever set them.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "x-api-key",
    "proxy-authorization",
];

/// The longest body quoted in the command; longer ones are cut with a note.
const MAX_BODY_CHARS: usize = 2_000;

/// `exchange` as a curl command with credentials redacted.
pub fn render(exchange: &Exchange) -> String {
    let probe = &exchange.probe;
    let placeholder = |name: &str| {
        format!(
            "${{{}_{}}}",
            shell_name(&exchange.identity),
            shell_name(name)
        )
    };
    let mut url = exchange.url.clone();
    let mut parts = vec!["curl -i".to_string()];
    if probe.method != http::Method::GET {
        parts.push(format!("-X {}", probe.method));
    }
    for (name, value) in &exchange.added {
        if let Some(scheme) = value.split_once(' ').map(|(s, _)| s).filter(|s| {
            name.eq_ignore_ascii_case("authorization")
                && (s.eq_ignore_ascii_case("bearer") || s.eq_ignore_ascii_case("basic"))
        }) {
            parts.push(format!(
                "-H {}",
                quote(&format!("{name}: {scheme} {}", placeholder("token")))
            ));
        } else {
            parts.push(format!(
                "-H {}",
                quote(&format!("{name}: {}", placeholder(name)))
            ));
        }
        // A credential carried in the query is replaced in the URL too.
        if !value.is_empty() {
            url = url.replace(&crate::target::encode(value), &placeholder(name));
        }
    }
    for (name, value) in &probe.headers {
        let shown = if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            && exchange.added.iter().any(|(_, v)| v == value)
        {
            placeholder(name)
        } else {
            value.clone()
        };
        parts.push(format!("-H {}", quote(&format!("{name}: {shown}"))));
    }
    if let Some((content_type, body)) = &probe.body {
        parts.push(format!(
            "-H {}",
            quote(&format!("Content-Type: {content_type}"))
        ));
        let text = String::from_utf8_lossy(body);
        if text.chars().count() > MAX_BODY_CHARS {
            parts.push(format!("--data-binary @body-of-{}-bytes.txt", body.len()));
        } else {
            let mut text = text.into_owned();
            for (_, value) in &exchange.added {
                if !value.is_empty() {
                    text = text.replace(value.as_str(), "<redacted>");
                }
            }
            parts.push(format!("--data-binary {}", quote(&text)));
        }
    }
    parts.push("--path-as-is".to_string());
    parts.push(quote(&url));
    redact(parts.join(" "), &exchange.secrets)
}

/// The shortest value treated as a secret: shorter ones (`1`, `ab`)
/// would blank out unrelated text.
const MIN_SECRET_CHARS: usize = 4;

/// `command` with every secret of every identity (another user's
/// password in an account-takeover probe, a login body sent as anonymous)
/// replaced, as written, percent-encoded or JSON-escaped.
fn redact(mut command: String, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets
        .iter()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        for form in [secret.as_str(), &crate::target::encode(secret), escaped] {
            if !form.is_empty() {
                command = command.replace(form, "<redacted>");
            }
        }
    }
    command
}

/// `text` in single quotes for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn shell_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Probe;
    use bytes::Bytes;
    use http::HeaderMap;
    use std::time::Duration;

    fn exchange(probe: Probe, added: Vec<(String, String)>) -> Exchange {
        Exchange {
            probe,
            identity: "alice".into(),
            added,
            url: "http://127.0.0.1:8080/api/orders/1".into(),
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            elapsed: Duration::ZERO,
            secrets: Default::default(),
        }
    }

    #[test]
    fn credentials_the_identity_added_are_placeholders() {
        let e = exchange(
            Probe::get("/api/orders/1"),
            vec![
                ("Authorization".into(), "Bearer eyJ.secret.sig".into()),
                ("X-Api-Key".into(), "moat_k_123".into()),
            ],
        );
        let curl = render(&e);
        assert!(!curl.contains("eyJ.secret.sig"), "{curl}");
        assert!(!curl.contains("moat_k_123"), "{curl}");
        assert!(
            curl.contains("'Authorization: Bearer ${ALICE_TOKEN}'"),
            "{curl}"
        );
        assert!(curl.contains("'X-Api-Key: ${ALICE_X_API_KEY}'"), "{curl}");
    }

    #[test]
    fn bodies_and_quotes_are_shell_safe() {
        let e = exchange(
            Probe::new(http::Method::POST, "/api/books").json(&serde_json::json!({"t": "it's"})),
            vec![],
        );
        let curl = render(&e);
        assert!(
            curl.contains(r#"--data-binary '{"t":"it'\''s"}'"#),
            "{curl}"
        );
        assert!(curl.starts_with("curl -i -X POST"), "{curl}");
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn every_identity_s_secrets_are_redacted_wherever_they_are() {
        let secrets = vec![
            "wonderland".to_string(),
            "p@ss word".to_string(),
            "ab".to_string(),
        ];
        let command = redact(
            r#"curl --data-binary '{"password":"wonderland"}' 'http://h/x?pw=p%40ss%20word&q=ab'"#
                .to_string(),
            &secrets,
        );
        assert!(!command.contains("wonderland"), "{command}");
        assert!(!command.contains("p%40ss%20word"), "{command}");
        // Too short to be told from ordinary text.
        assert!(command.contains("q=ab"), "{command}");
    }
}
