//! `$ref`s: checked at load, positioned at the reference, followed lazily.

use serde_json::json;

use super::{Files, HEADER, at, errors, only, spec};
use crate::{DocId, ResolveError, load, load_with_ref_dirs};

#[test]
fn bad_ref_is_reported_at_the_ref_with_a_suggestion() {
    let text = format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    Pet: {{type: object}}\n    Pets:\n      type: array\n      items:\n        $ref: '#/components/schemas/Pte'\n"
    );
    let diags = errors(&text);
    let d = only(&diags);
    assert_eq!(d.position, at(10, 15), "{d}");
    assert!(
        d.message
            .contains("`#/components/schemas/Pte` points to nothing"),
        "{d}"
    );
    assert!(
        d.message.contains("`#/components/schemas` has no `Pte`"),
        "{d}"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `#/components/schemas/Pet`?")
    );
    assert_eq!(
        d.line_text.as_deref(),
        Some("        $ref: '#/components/schemas/Pte'")
    );
    assert!(d.to_string().contains("openapi.yaml:10:15: error:"), "{d}");
}

#[test]
fn a_misspelt_middle_token_is_suggested_too() {
    let text = format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    Pet: {{type: object}}\n    A: {{$ref: '#/component/schemas/Pet'}}\n"
    );
    let diags = errors(&text);
    assert_eq!(
        only(&diags).hint.as_deref(),
        Some("did you mean `#/components/schemas/Pet`?")
    );
}

#[test]
fn remote_refs_are_refused() {
    let text = format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A:\n      $ref: https://example.com/schemas.yaml#/Pet\n    B:\n      $ref: //example.com/schemas.yaml\n    C:\n      $ref: 'urn:example:pet'\n"
    );
    let diags = errors(&text);
    assert_eq!(diags.0.len(), 3, "{diags}");
    let remote = &diags.0[0];
    assert_eq!(remote.position, at(7, 13));
    assert!(remote.message.contains("remote reference"), "{remote}");
    assert!(
        remote.hint.as_deref().unwrap().contains("relative path"),
        "{remote}"
    );
    assert!(
        diags.0[1].message.contains("remote reference"),
        "{}",
        diags.0[1]
    );
    assert!(diags.0[2].message.contains("URI scheme"), "{}", diags.0[2]);
}

#[test]
fn file_refs_are_resolved_relative_to_the_referring_file() {
    let files = Files::new();
    let root = files.write(
        "api/openapi.yaml",
        &format!(
            "{HEADER}paths:\n  /pets/{{id}}:\n    parameters:\n      - $ref: 'common/defs.yaml#/components/parameters/Id'\n    get:\n      responses: {{'200': {{description: ok}}}}\n      requestBody:\n        $ref: 'common/defs.yaml#/components/requestBodies/Pet'\n"
        ),
    );
    files.write(
        "api/common/defs.yaml",
        "components:\n  parameters:\n    Id: {name: id, in: path, required: true, schema: {$ref: '#/components/schemas/Id'}}\n  schemas:\n    Id: {$ref: '../../shared/types.json#/Id'}\n  requestBodies:\n    Pet: {content: {application/json: {schema: {$ref: '../../shared/types.json#/Pet'}}}}\n",
    );
    files.write(
        "shared/types.json",
        r##"{"Id": {"type": "string"}, "Pet": {"type": "object", "properties": {"id": {"$ref": "#/Id"}}}}"##,
    );
    // `shared/` is beside the document's directory: allowed explicitly.
    let shared = files.dir.path().join("shared");
    let spec = load_with_ref_dirs(&root, &[shared]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.documents().len(), 3);
    let op = &spec.operations[0];
    assert_eq!(op.doc, DocId::ROOT);
    let id = op.path_parameter("id").expect("the referenced parameter");
    assert_ne!(id.doc, DocId::ROOT);
    assert_eq!(id.pointer, "/components/parameters/Id");
    // The parameter's schema is a `$ref` relative to defs.yaml, then to
    // types.json: resolve it lazily from the parameter's document.
    let target = spec.resolve(id.doc, id.schema.as_ref().unwrap()).unwrap();
    assert_eq!(target.value, &json!({"type": "string"}));
    assert_eq!(target.pointer.as_deref(), Some("/Id"));
    assert!(
        spec.document(target.doc)
            .unwrap()
            .path()
            .ends_with("shared/types.json"),
        "{:?}",
        spec.document(target.doc).unwrap().path()
    );
    let body = op.request_body.as_ref().unwrap();
    assert_eq!(body.pointer, "/components/requestBodies/Pet");
    let schema = &body.value["content"]["application/json"]["schema"];
    let pet = spec.resolve(body.doc, schema).unwrap();
    assert_eq!(pet.value["type"], "object");
}

#[test]
fn missing_and_broken_files_are_reported() {
    let files = Files::new();
    let root = files.write(
        "openapi.yaml",
        &format!(
            "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: 'nope.yaml#/A'}}\n    B: {{$ref: 'broken.yaml#/B'}}\n    C: {{$ref: 'broken.yaml#/C'}}\n    D: {{$ref: 'dir.yaml#/D'}}\n"
        ),
    );
    files.write("broken.yaml", "B: [1, 2\n");
    std::fs::create_dir(files.dir.path().join("dir.yaml")).unwrap();
    let diags = load(&root).unwrap_err();
    assert_eq!(diags.0.len(), 3, "{diags}");
    let missing = &diags.0[0];
    assert_eq!(missing.position, at(6, 15));
    assert!(
        missing
            .message
            .contains("`nope.yaml`, which cannot be read"),
        "{missing}"
    );
    let broken = &diags.0[1];
    assert!(broken.file.ends_with("broken.yaml"), "{broken}");
    assert!(broken.message.starts_with("invalid YAML"), "{broken}");
    let dir = &diags.0[2];
    assert_eq!(dir.position, at(9, 15));
    assert!(
        dir.message.contains("`dir.yaml`, which cannot be used"),
        "{dir}"
    );
}

#[test]
fn files_that_refer_to_each_other_are_read_once() {
    let files = Files::new();
    let root = files.write(
        "openapi.yaml",
        &format!(
            "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    Owner: {{type: object, properties: {{pet: {{$ref: 'pets.yaml#/Pet'}}}}}}\n"
        ),
    );
    files.write(
        "pets.yaml",
        "Pet: {type: object, properties: {owner: {$ref: './openapi.yaml#/components/schemas/Owner'}, again: {$ref: 'pets.yaml#/Pet'}}}\n",
    );
    let spec = load(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.documents().len(), 2);
}

#[test]
fn ref_loops_are_reported_once_and_recursive_schemas_are_fine() {
    let text = format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: '#/components/schemas/B'}}\n    B: {{$ref: '#/components/schemas/A'}}\n    Self: {{$ref: '#/components/schemas/Self'}}\n    Tree:\n      type: object\n      properties:\n        children: {{type: array, items: {{$ref: '#/components/schemas/Tree'}}}}\n"
    );
    let diags = errors(&text);
    assert_eq!(diags.0.len(), 2, "{diags}");
    let ab = &diags.0[0];
    assert_eq!(ab.position, at(6, 15));
    assert_eq!(
        ab.message,
        "`$ref` loop: #/components/schemas/B -> #/components/schemas/A -> #/components/schemas/B"
    );
    assert!(diags.0[1].message.contains("`$ref` loop"), "{}", diags.0[1]);
    assert_eq!(diags.0[1].position, at(8, 18));
}

#[test]
fn loops_across_files_are_reported() {
    let files = Files::new();
    let root = files.write(
        "openapi.yaml",
        &format!("{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: 'b.yaml#/B'}}\n"),
    );
    files.write(
        "b.yaml",
        "B: {$ref: 'openapi.yaml#/components/schemas/A'}\n",
    );
    let diags = load(&root).unwrap_err();
    let d = only(&diags);
    assert!(d.message.contains("`$ref` loop"), "{d}");
}

#[test]
fn pointers_are_unescaped_and_percent_decoded() {
    let spec = spec(&format!(
        "{HEADER}paths:\n  /pets/{{id}}:\n    get:\n      parameters: [{{name: id, in: path, required: true}}]\n      responses: {{}}\ncomponents:\n  schemas:\n    a/b~c: {{type: string}}\n    'x y': {{type: integer}}\n    R1: {{$ref: '#/components/schemas/a~1b~0c'}}\n    R2: {{$ref: '#/components/schemas/x%20y'}}\n    R3: {{$ref: '#/paths/~1pets~1%7Bid%7D/get/parameters/0'}}\n"
    ));
    let r1 = spec
        .resolve_ref(DocId::ROOT, "#/components/schemas/a~1b~0c")
        .unwrap();
    assert_eq!(r1.value["type"], "string");
    assert_eq!(r1.pointer.as_deref(), Some("/components/schemas/a~1b~0c"));
    let r2 = spec
        .resolve_ref(DocId::ROOT, "#/components/schemas/x%20y")
        .unwrap();
    assert_eq!(r2.value["type"], "integer");
    let r3 = spec
        .resolve_ref(DocId::ROOT, "#/paths/~1pets~1%7Bid%7D/get/parameters/0")
        .unwrap();
    assert_eq!(r3.value["name"], "id");
    let whole = spec.resolve_ref(DocId::ROOT, "#").unwrap();
    assert_eq!(whole.value["openapi"], "3.0.3");
}

#[test]
fn malformed_pointers_are_explained() {
    let text = format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    Pet: {{type: object}}\n    A: {{$ref: '#/components/schemas/P~2'}}\n    B: {{$ref: '#components/schemas/Pet'}}\n    C: {{$ref: '#/components/schemas/%zz'}}\n    D: {{$ref: '#/components/schemas/Pet/x'}}\n"
    );
    let diags = errors(&text);
    assert_eq!(diags.0.len(), 4, "{diags}");
    assert!(
        diags.0[0].message.contains("`~` must be followed by `0`"),
        "{}",
        diags.0[0]
    );
    assert_eq!(
        diags.0[1].hint.as_deref(),
        Some("did you mean `#/components/schemas/Pet`?"),
        "{}",
        diags.0[1]
    );
    assert!(
        diags.0[2].message.contains("percent-escape"),
        "{}",
        diags.0[2]
    );
    assert!(diags.0[3].message.contains("has no `x`"), "{}", diags.0[3]);
}

#[test]
fn the_resolver_follows_chains_lazily() {
    let spec = spec(&format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: '#/components/schemas/B'}}\n    B: {{$ref: '#/components/schemas/C'}}\n    C: {{type: object}}\n"
    ));
    let start = json!({"$ref": "#/components/schemas/A"});
    let target = spec.resolve(DocId::ROOT, &start).unwrap();
    assert_eq!(target.pointer.as_deref(), Some("/components/schemas/C"));
    assert_eq!(target.value, &json!({"type": "object"}));
    // One step only.
    let one = spec
        .resolve_ref(DocId::ROOT, "#/components/schemas/A")
        .unwrap();
    assert_eq!(one.value, &json!({"$ref": "#/components/schemas/B"}));
    // A value that is not a reference is its own target.
    let plain = json!({"type": "string"});
    let same = spec.resolve(DocId::ROOT, &plain).unwrap();
    assert_eq!(same.pointer, None);
    assert_eq!(same.value, &plain);
    // Errors are typed.
    let bad = json!({"$ref": "#/components/schemas/Nope"});
    assert!(matches!(
        spec.resolve(DocId::ROOT, &bad),
        Err(ResolveError::NotFound { .. })
    ));
    assert!(matches!(
        spec.resolve_ref(DocId::ROOT, "other.yaml#/x"),
        Err(ResolveError::FileNotLoaded { .. })
    ));
    assert!(matches!(
        spec.resolve_ref(DocId::ROOT, "http://example.com/x"),
        Err(ResolveError::Remote { .. })
    ));
    assert_eq!(
        spec.value_at(DocId::ROOT, "/components/schemas/C/type"),
        Some(&json!("object"))
    );
}

#[test]
fn chains_are_bounded() {
    let mut text = format!("{HEADER}paths: {{}}\ncomponents:\n  schemas:\n");
    for i in 0..40 {
        text.push_str(&format!(
            "    S{i}: {{$ref: '#/components/schemas/S{}'}}\n",
            i + 1
        ));
    }
    text.push_str("    S40: {type: object}\n");
    let diags = errors(&text);
    assert!(!diags.is_empty());
    assert!(
        diags
            .0
            .iter()
            .all(|d| d.message.contains("chain of more than 32")),
        "{diags}"
    );
}

#[test]
fn refs_in_examples_and_extensions_are_data() {
    spec(&format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A:\n      type: object\n      example: {{$ref: 'not a ref'}}\n      default: {{$ref: 42}}\n      x-vendor: {{$ref: 'https://example.com'}}\n      properties:\n        $ref: {{type: string}}\n        example: {{$ref: '#/components/schemas/A'}}\n  examples:\n    E:\n      value: {{$ref: 'https://example.com/whatever'}}\n"
    ));
    // ...but a property named `example` is a schema, and its `$ref` counts.
    let diags = errors(&format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A:\n      properties:\n        example: {{$ref: '#/components/schemas/Nope'}}\n"
    ));
    assert!(only(&diags).message.contains("Nope"));
}

#[test]
fn a_ref_must_be_a_string() {
    let diags = errors(&format!(
        "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: 42}}\n"
    ));
    let d = only(&diags);
    assert_eq!(d.message, "`$ref` must be a string");
    assert_eq!(d.position, at(6, 15));
}

#[test]
fn openapi_3_1_anchors_and_ids() {
    let spec = spec(
        "openapi: 3.1.0\ninfo: {title: T, version: '1'}\ncomponents:\n  schemas:\n    Pet:\n      $anchor: pet\n      type: object\n    Embedded:\n      $id: 'https://example.com/schemas/embedded'\n      $defs:\n        Name: {type: string}\n      properties:\n        name: {$ref: '#/$defs/Name'}\n    UsesAnchor: {$ref: '#pet'}\n    UsesId: {$ref: 'https://example.com/schemas/embedded#/$defs/Name'}\n",
    );
    let a = spec.resolve_ref(DocId::ROOT, "#pet").unwrap();
    assert_eq!(a.pointer.as_deref(), Some("/components/schemas/Pet"));
    let id = spec
        .resolve_ref(
            DocId::ROOT,
            "https://example.com/schemas/embedded#/$defs/Name",
        )
        .unwrap();
    assert_eq!(
        id.pointer.as_deref(),
        Some("/components/schemas/Embedded/$defs/Name")
    );
    assert_eq!(id.value["type"], "string");
}

#[test]
fn path_items_parameters_and_bodies_may_be_refs() {
    let files = Files::new();
    let root = files.write(
        "openapi.yaml",
        &format!(
            "{HEADER}paths:\n  /pets:\n    $ref: 'paths.yaml#/pets'\n  /pets/{{id}}:\n    parameters: [{{$ref: '#/components/parameters/Id'}}]\n    get:\n      responses: {{}}\ncomponents:\n  parameters:\n    Id: {{$ref: '#/components/parameters/RealId'}}\n    RealId: {{name: id, in: path, required: true, schema: {{type: integer}}}}\n"
        ),
    );
    files.write(
        "paths.yaml",
        "pets:\n  get:\n    operationId: listPets\n    parameters: [{$ref: '#/params/Limit'}]\n    responses: {'200': {$ref: '#/responses/Ok'}}\nparams:\n  Limit: {name: limit, in: query, schema: {type: integer}}\nresponses:\n  Ok: {description: ok}\n",
    );
    let spec = load(&root).unwrap_or_else(|e| panic!("{e}"));
    let list = spec.operation("listPets").unwrap();
    assert_ne!(list.doc, DocId::ROOT);
    assert_eq!(list.pointer, "/pets/get");
    assert_eq!(list.parameters[0].name, "limit");
    assert!(!list.parameters[0].required);
    let ok = spec.resolve(list.doc, &list.responses["200"]).unwrap();
    assert_eq!(ok.value["description"], "ok");
    let get = spec.operation("GET /pets/{id}").unwrap();
    assert_eq!(get.parameters[0].pointer, "/components/parameters/RealId");
    assert_eq!(get.parameters[0].schema, Some(json!({"type": "integer"})));
}

#[test]
fn refs_are_confined_to_the_documents_directory() {
    let files = Files::new();
    let root = files.write(
        "api/openapi.yaml",
        &format!(
            "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: '../secrets/pepper.yaml#/key'}}\n    B: {{$ref: 'link.yaml'}}\n    C: {{$ref: 'inside/c.yaml#/C'}}\n"
        ),
    );
    files.write("secrets/pepper.yaml", "key: hunter2-hunter2-hunter2\n");
    files.write("api/inside/c.yaml", "C: {type: string}\n");
    std::os::unix::fs::symlink(
        files.dir.path().join("secrets/pepper.yaml"),
        files.dir.path().join("api/link.yaml"),
    )
    .unwrap();
    let diags = load(&root).unwrap_err();
    assert_eq!(diags.0.len(), 2, "{diags}");
    for (d, line) in diags.0.iter().zip([6, 7]) {
        assert_eq!(d.position, at(line, 15), "{d}");
        assert!(d.message.contains("outside the directories"), "{d}");
        assert!(d.hint.as_deref().unwrap().contains("spec_ref_dirs"), "{d}");
    }
    assert!(!diags.to_string().contains("hunter2"), "{diags}");

    // Allowed explicitly, the same files are read.
    let secrets = files.dir.path().join("secrets");
    let spec = load_with_ref_dirs(&root, &[secrets]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.documents().len(), 3);
}

#[test]
fn a_referenced_file_that_is_not_a_mapping_is_never_quoted() {
    let files = Files::new();
    let root = files.write(
        "openapi.yaml",
        &format!(
            "{HEADER}paths: {{}}\ncomponents:\n  schemas:\n    A: {{$ref: 'pepper'}}\n    B: {{$ref: 'broken.yaml#/B'}}\n"
        ),
    );
    files.write("pepper", "s3cr3t-pepper-value-0123456789abcdef\n");
    files.write("broken.yaml", "B: [s3cr3t-broken-value, 2\n");
    let diags = load(&root).unwrap_err();
    assert_eq!(diags.0.len(), 2, "{diags}");
    let scalar = &diags.0[0];
    assert_eq!(scalar.position, at(6, 15), "{scalar}");
    assert!(
        scalar
            .message
            .contains("does not hold a YAML or JSON mapping"),
        "{scalar}"
    );
    let broken = &diags.0[1];
    assert!(broken.file.ends_with("broken.yaml"), "{broken}");
    assert!(broken.position.is_some(), "{broken}");
    let text = diags.to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
}
