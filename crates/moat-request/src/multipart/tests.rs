use super::*;

fn ok(body: &[u8], boundary: &str) -> Vec<Part> {
    parse(body, boundary, &MultipartLimits::default()).expect("parses")
}

fn err(body: &[u8], boundary: &str) -> MultipartError {
    parse(body, boundary, &MultipartLimits::default()).expect_err("refused")
}

const FORM: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\n\r\n--XyZ--\r\n";

#[test]
fn reads_fields_and_files() {
    let parts = ok(FORM, "XyZ");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].name.as_deref(), Some("title"));
    assert_eq!(&FORM[parts[0].data.clone()], b"Hello");
    assert!(parts[0].is_field());
    assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
    assert_eq!(&FORM[parts[1].data.clone()], b"\x89PNG\n");
    assert!(!parts[1].is_field());
}

#[test]
fn lf_only_framing_is_refused() {
    let lf = b"--XyZ\nContent-Disposition: form-data; name=\"q\"\n\n1' OR 1=1--\n--XyZ--\n";
    assert_eq!(err(lf, "XyZ"), MultipartError::Framing);
    // A CRLF body that hides an LF-framed part in a field.
    let hidden = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\n--XyZ\nContent-Disposition: form-data; name=\"q\"\n\n<script>\r\n--XyZ--\r\n";
    assert_eq!(err(hidden, "XyZ"), MultipartError::Framing);
    // Headers ending in a bare LF.
    let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\n\r\n\r\nx\r\n--XyZ--\r\n";
    assert_eq!(err(head, "XyZ"), MultipartError::Headers);
}

#[test]
fn framing_outside_the_parts_is_refused() {
    assert_eq!(err(b"", "XyZ"), MultipartError::Unterminated);
    assert_eq!(
        err(
            b"junk\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--",
            "XyZ"
        ),
        MultipartError::Preamble
    );
    assert_eq!(
        err(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
            "XyZ"
        ),
        MultipartError::Unterminated
    );
    assert_eq!(
        err(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--\r\nmore",
            "XyZ"
        ),
        MultipartError::Unterminated
    );
    assert_eq!(
        err(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--\r\n--XyZ\r\n",
            "XyZ"
        ),
        MultipartError::Unterminated
    );
    assert_eq!(err(FORM, ""), MultipartError::Boundary);
    assert_eq!(err(FORM, &"x".repeat(71)), MultipartError::Boundary);
}

#[test]
fn repeated_headers_and_params_are_refused() {
    let two_names =
        b"--b\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nx\r\n--b--";
    assert!(matches!(err(two_names, "b"), MultipartError::Repeated(_)));
    let two_types = b"--b\r\nContent-Disposition: form-data; name=a\r\nContent-Type: text/plain\r\ncontent-type: image/png\r\n\r\nx\r\n--b--";
    assert!(matches!(err(two_types, "b"), MultipartError::Repeated(_)));
    let folded = b"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--";
    assert_eq!(err(folded, "b"), MultipartError::Headers);
    let no_name = b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--";
    assert_eq!(err(no_name, "b"), MultipartError::Headers);
    let base64 = b"--b\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n\r\nPHNjcmlwdD4=\r\n--b--";
    assert_eq!(err(base64, "b"), MultipartError::TransferEncoding);
}

#[test]
fn filename_star_is_decoded() {
    let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd\r\n\r\nx\r\n--b--\r\n";
    let parts = ok(body, "b");
    assert_eq!(
        parts[0].filenames().collect::<Vec<_>>(),
        ["a.txt", "../../etc/passwd"]
    );
    let latin = b"--b\r\nContent-Disposition: form-data; name=f; filename*=iso-8859-1'en'caf%E9\r\n\r\nx\r\n--b--";
    assert_eq!(ok(latin, "b")[0].filename_ext.as_deref(), Some("caf\u{e9}"));
    let bad =
        b"--b\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''%zz\r\n\r\nx\r\n--b--";
    assert_eq!(err(bad, "b"), MultipartError::Headers);
}

#[test]
fn typed_parts_without_a_file_name_are_fields() {
    let body = b"--b\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Type: application/octet-stream\r\n\r\n1' OR '1'='1\r\n--b--";
    let parts = ok(body, "b");
    assert!(parts[0].is_field());
}

#[test]
fn nested_mixed_parts_are_read() {
    let body = b"--o\r\nContent-Disposition: form-data; name=\"files\"\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nContent-Disposition: file; filename=\"../../x.sh\"\r\nContent-Type: text/plain\r\n\r\nrm -rf /\r\n--i--\r\n--o--\r\n";
    let parts = ok(body, "o");
    assert_eq!(parts[0].nested.len(), 1);
    let inner = &parts[0].nested[0];
    assert_eq!(inner.filename.as_deref(), Some("../../x.sh"));
    assert_eq!(&body[inner.data.clone()], b"rm -rf /");
    let deeper = b"--o\r\nContent-Disposition: form-data; name=f\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nContent-Type: multipart/mixed; boundary=j\r\n\r\n--j\r\n\r\nx\r\n--j--\r\n--i--\r\n--o--";
    assert_eq!(err(deeper, "o"), MultipartError::Nesting);
}

#[test]
fn too_many_parts() {
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n");
    }
    body.extend_from_slice(b"--b--");
    let limits = MultipartLimits {
        max_parts: 2,
        ..MultipartLimits::default()
    };
    assert_eq!(
        parse(&body, "b", &limits),
        Err(MultipartError::TooManyParts)
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = parse(&body, "b", &MultipartLimits::default());
    }
}
