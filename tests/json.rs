//! Every `--json` output parses and matches the schema docs/json.md gives
//! for it (the document is the contract; this test reads it).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::{World, stderr, stdout};

/// The `schema NAME` blocks of docs/json.md.
fn schemas() -> BTreeMap<String, Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("```schema ") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            let value: Value = serde_json::from_str(&body.join("\n"))
                .unwrap_or_else(|e| panic!("schema {name}: {e}"));
            out.insert(name.trim().to_owned(), value);
        }
    }
    out
}

/// Check `value` against `schema` (the notation of docs/json.md).
fn conforms(schema: &Value, value: &Value, at: &str) {
    match schema {
        Value::String(types) => {
            let ok = types.split('|').any(|t| match t {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                other => panic!("unknown type {other} in the schema at {at}"),
            });
            assert!(ok, "{at}: {value} is not {types}");
        }
        Value::Array(items) => {
            let array = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: {value} is not an array"));
            for (i, v) in array.iter().enumerate() {
                conforms(&items[0], v, &format!("{at}[{i}]"));
            }
        }
        Value::Object(fields) => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: {value} is not an object"));
            for (key, field) in fields {
                let (key, optional) = match key.strip_suffix('?') {
                    Some(k) => (k, true),
                    None => (key.as_str(), false),
                };
                match object.get(key) {
                    Some(v) => conforms(field, v, &format!("{at}.{key}")),
                    None => assert!(optional, "{at}: no field {key} in {value}"),
                }
            }
            for key in object.keys() {
                assert!(
                    fields.contains_key(key) || fields.contains_key(&format!("{key}?")),
                    "{at}: field {key} is not documented"
                );
            }
        }
        other => panic!("bad schema at {at}: {other}"),
    }
}

fn json(w: &World, args: &[&str], status: i32) -> Value {
    let out = w.depot(args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "{args:?}: {}",
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
}

#[test]
fn every_json_output_matches_its_documented_schema() {
    let schemas = schemas();
    let check = |name: &str, value: &Value| {
        let schema = schemas
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name} in docs/json.md"));
        conforms(schema, value, name);
    };
    let w = World::new();
    let lib = w.package("lib-1.0", &[("lib/libx", "x")], &[]);
    let app = w.package("app-1.0", &[("bin/app", "a")], &["-P", "lib>=1"]);
    let old = w.package("app-0.9", &[("bin/app", "old")], &[]);

    let plan = json(&w, &["add", "-n", "--json", app.to_str().unwrap()], 0);
    check("add-plan", &plan);
    let names: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pkgname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lib-1.0", "app-1.0"]);
    assert!(!w.root.join("packages/app-1.0").exists());

    w.ok(&["add", app.to_str().unwrap(), old.to_str().unwrap()]);
    let _ = lib;
    w.ok(&["view", "create", "other"]);
    w.ok(&["view", "add", "other", "app-0.9"]);
    w.ok(&["view", "remove", "other", "app-0.9"]);

    let views = json(&w, &["view", "list", "--json"], 0);
    check("view-list", &views);
    assert!(views.as_array().unwrap().iter().any(|v| {
        v["name"] == "default"
            && v["packages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "app-1.0")
    }));
    let generations = json(&w, &["view", "generations", "other", "--json"], 0);
    check("view-generations", &generations);
    assert_eq!(generations.as_array().unwrap().len(), 3);

    let plan = json(&w, &["delete", "-n", "--json", "app-0.9"], 0);
    check("delete-plan", &plan);
    assert_eq!(plan[0]["action"], "delete");
    assert!(
        plan.as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"] == "forget" && s["view"] == "other")
    );

    let checked = json(&w, &["admin", "check", "--json"], 0);
    check("admin-check", &checked);
    assert_eq!(checked["packages"], 3);
    // A changed file is a problem, and the exit status says so.
    let file = w.root.join("packages/app-1.0/bin/app");
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, "changed").unwrap();
    let checked = json(&w, &["admin", "check", "--json"], 1);
    check("admin-check", &checked);
    assert_eq!(checked["problems"][0]["pkgname"], "app-1.0");

    let dir = format!("{}/app-*", w.pkgs.display());
    let all = json(&w, &["admin", "lsall", "--json", &dir], 0);
    check("admin-ls", &all);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let best = json(&w, &["admin", "lsbest", "--json", &dir], 0);
    check("admin-ls", &best);
    assert_eq!(best[0]["pkgname"], "app-1.0");

    let gc = json(&w, &["gc", "-n", "--json", "--keep", "1"], 0);
    check("gc", &gc);
    assert!(
        gc.as_array()
            .unwrap()
            .iter()
            .any(|s| s["remove"] == "generation" && s["done"] == false)
    );
    let gc = json(&w, &["gc", "--json", "--keep", "1"], 0);
    check("gc", &gc);
    assert!(
        gc.as_array()
            .unwrap()
            .iter()
            .any(|s| s["remove"] == "generation" && s["view"] == "other" && s["done"] == true)
    );

    // The audit's findings.
    let list = w.dir.path().join("vulns");
    let body = "#FORMAT 1.1.0\napp<2\tremote-code-execution\thttps://example.org/1\n";
    let digest = <sha2::Sha512 as sha2::Digest>::digest(body.as_bytes());
    std::fs::write(
        &list,
        format!("{body}#CHECKSUM SHA512 {}\n", hex::encode(digest)),
    )
    .unwrap();
    let out = w
        .command(&crate::util::depot_bin())
        .env("PKG_VULN_URL", format!("file://{}", list.display()))
        .args(["admin", "fetch-pkg-vulnerabilities"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let found = json(&w, &["admin", "audit", "--json"], 1);
    check("audit", &found);
    check(
        "audit",
        &json(&w, &["view", "audit", "default", "--json"], 1),
    );
}
