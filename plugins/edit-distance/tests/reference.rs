//! `edit_distance` as users see it: the public functions against the
//! textbook table on generated texts, and the scorer through the C ABI, as
//! the `verdict` host calls a loaded plugin.

use proptest::prelude::*;
use verdict_edit_distance::testdata::reference;
use verdict_edit_distance::{EditDistance, levenshtein, levenshtein_bounded, similarity};
use verdict_plugin::{NamedValue, Record, Scorer, Value, through_abi};

/// A text and an edited copy of it: edits are (position, kind, char).
fn edited(text: impl Strategy<Value = String>) -> impl Strategy<Value = (String, String)> {
    (
        text,
        prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<char>()), 0..40),
    )
        .prop_map(|(a, edits)| {
            let mut b: Vec<char> = a.chars().collect();
            for (at, kind, c) in edits {
                if b.is_empty() {
                    b.push(c);
                    continue;
                }
                let i = at.index(b.len());
                match kind {
                    0 => b[i] = c,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, c),
                }
            }
            (a, b.into_iter().collect())
        })
}

fn texts() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        ("[ab]{0,200}", "[ab]{0,200}"),
        ("[a-z ]{0,300}", "[a-z ]{0,300}"),
        ("\\PC{0,150}", "\\PC{0,150}"),
        edited("[a-z .,]{0,300}"),
        edited("[acgt]{60,200}"),
        edited("[a-zé東京😀\u{301}\u{200d} ]{0,250}"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn matches_the_table((a, b) in texts(), slack in 0usize..40) {
        let d = reference(&a, &b);
        prop_assert_eq!(levenshtein(&a, &b), d);
        prop_assert_eq!(levenshtein(&b, &a), d);
        for max in [d.saturating_sub(slack), d.saturating_sub(1), d, d + slack] {
            prop_assert_eq!(levenshtein_bounded(&a, &b, max), (d <= max).then_some(d), "max {}", max);
        }
        let len = a.chars().count().max(b.chars().count());
        let expected = if len == 0 { 1.0 } else { 1.0 - d as f64 / len as f64 };
        prop_assert_eq!(similarity(&a, &b), expected);
    }
}

/// Records with plain, Unicode, list, JSON, empty and missing expectations.
fn with_records(check: impl Fn(&[Record<'_>])) {
    let kitten = [NamedValue::new(
        "expected_response",
        Value::string("kitten"),
    )];
    let list = [NamedValue::new(
        "expected_response",
        Value::json(r#"["sitting", "mitten", 42]"#),
    )];
    let empty_list = [NamedValue::new("expected_response", Value::json("[]"))];
    let empty = [NamedValue::new("expected_response", Value::string(""))];
    let records = [
        Record::new(Value::NULL, Value::string("sitting"), &kitten),
        Record::new(Value::NULL, Value::string("kitten"), &kitten),
        Record::new(Value::NULL, Value::string("bitten"), &list),
        Record::new(Value::NULL, Value::json("42"), &list),
        Record::new(Value::NULL, Value::string("東京 🙂 e\u{301}"), &kitten),
        Record::new(Value::NULL, Value::string(""), &empty),
        Record::new(Value::NULL, Value::string("x"), &empty_list),
        Record::new(Value::NULL, Value::string("kitten"), &[]),
    ];
    check(&records);
}

#[test]
fn the_abi_gives_the_same_outcomes_as_a_direct_call() {
    for config in [
        "",
        r#"{"report": "distance"}"#,
        r#"{"report": "distance", "max_distance": 2}"#,
        r#"{"min_similarity": 0.8}"#,
        r#"{"max_distance": 1, "output": "pass"}"#,
        r#"{"min_similarity": 0.5, "output": "pass"}"#,
    ] {
        let scorer = EditDistance::from_json(config).unwrap();
        with_records(|records| {
            let direct: Vec<_> = records.iter().map(|r| scorer.score(r)).collect();
            let through = through_abi::<EditDistance>(config, records).unwrap();
            assert_eq!(through, direct, "{config}");
        });
    }
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    for (config, named) in [
        (r#"{"max_distnce": 3}"#, "`max_distnce`"),
        (r#"{"min_similarity": 2}"#, "`min_similarity`"),
        (r#"{"output": "pass"}"#, "`output`"),
    ] {
        let err = through_abi::<EditDistance>(config, &[]).unwrap_err();
        assert!(err.contains(named), "{config}: {err}");
    }
}

unsafe extern "C" {
    /// The scorer's own entry point, the symbol the host looks for in a
    /// library named for the scorer.
    fn verdict_plugin_v1_edit_distance() -> *const verdict_plugin::abi::Descriptor;
}

#[test]
fn the_scorers_entry_point_describes_it_with_its_crate_version() {
    // SAFETY: the entry point returns a pointer to a static descriptor.
    let d = unsafe { &*verdict_plugin_v1_edit_distance() };
    assert_eq!(d.name.as_str(), "edit_distance");
    assert_eq!(d.version.as_str(), env!("CARGO_PKG_VERSION"));
    assert_eq!(d.abi_version, verdict_plugin::abi::ABI_VERSION);
    assert_eq!(d.n_config_keys, EditDistance::CONFIG_KEYS.len());
}
