//! Any valid assessment survives MLflow's JSON unchanged.

use proptest::prelude::*;
use serde_json::{Map, Value};
use verdict::{
    Assessment, AssessmentError, AssessmentId, AssessmentSource, FeedbackValue, SourceType, Target,
};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn feedback_value() -> impl Strategy<Value = FeedbackValue> {
    prop_oneof![
        any::<bool>().prop_map(FeedbackValue::Bool),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(FeedbackValue::Number),
        ".{0,20}".prop_map(FeedbackValue::String),
        prop::collection::vec(json(), 0..4).prop_map(FeedbackValue::List),
        prop::collection::btree_map(".{0,6}", json(), 0..4)
            .prop_map(|m| FeedbackValue::Object(m.into_iter().collect())),
    ]
}

fn error() -> impl Strategy<Value = AssessmentError> {
    (
        "[A-Z_]{1,12}",
        proptest::option::of(".{0,30}"),
        proptest::option::of("(.|\n){0,60}"),
    )
        .prop_map(|(code, message, stack)| AssessmentError {
            error_code: code,
            error_message: message,
            stack_trace: stack,
        })
}

fn name() -> impl Strategy<Value = String> {
    // Any characters but '.', up to the 250-character limit.
    "[^.]{1,250}"
}

fn source() -> impl Strategy<Value = AssessmentSource> {
    (
        prop_oneof![
            Just(SourceType::Human),
            Just(SourceType::LlmJudge),
            Just(SourceType::Code)
        ],
        ".{1,20}",
    )
        .prop_map(|(t, id)| AssessmentSource::new(t, id).unwrap())
}

fn target() -> impl Strategy<Value = Target> {
    (1..=u128::MAX, proptest::option::of(1..=u64::MAX)).prop_map(|(trace, span)| {
        let trace = format!("{trace:032x}");
        let span = span.map(|s| format!("{s:016x}"));
        Target::parse(&trace, span.as_deref()).unwrap()
    })
}

prop_compose! {
    fn assessment()(
        name in name(),
        kind in 0..3u8,
        value in feedback_value(),
        err in error(),
        expected in json().prop_filter("not null", |v| !v.is_null()),
        source in proptest::option::of(source()),
        rationale in proptest::option::of(".{0,40}"),
        metadata in prop::collection::btree_map(".{1,10}", ".{0,10}", 0..4),
        run_id in proptest::option::of("[0-9a-f]{32}"),
        overrides in proptest::option::of(1..=u128::MAX),
        valid in any::<bool>(),
        target in target(),
    ) -> Assessment {
        let builder = match kind {
            0 => Assessment::feedback(name, value),
            1 => Assessment::feedback_error(name, err),
            _ => Assessment::expectation(name, expected),
        };
        let mut builder = builder.metadata_entries(metadata);
        if let Some(source) = source { builder = builder.source(source); }
        if let Some(r) = rationale { builder = builder.rationale(r); }
        if let Some(run) = run_id { builder = builder.run_id(run); }
        if let (Some(o), true) = (overrides, kind != 2) {
            builder = builder.overrides(AssessmentId::from_u128(o).unwrap());
        }
        let mut a = builder.on(target).unwrap();
        a.set_valid(valid);
        a
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_round_trip(a in assessment()) {
        let text = a.to_json();
        let back = Assessment::from_json(&text).unwrap();
        prop_assert_eq!(&back, &a);
        // And the text is stable: encoding again gives the same bytes.
        prop_assert_eq!(back.to_json(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(.|\n){0,200}") {
        let _ = Assessment::from_json(&text);
        let _ = verdict::parse_trace_id(&text);
        let _ = verdict::parse_span_id(&text);
        let _ = text.parse::<AssessmentId>();
        let _ = verdict::AssessmentName::new(text.clone());
    }

    #[test]
    fn mangled_documents_never_panic(a in assessment(), cut in 0usize..400, byte in any::<u8>()) {
        let mut bytes = a.to_json().into_bytes();
        let at = cut.min(bytes.len().saturating_sub(1));
        bytes[at] = byte;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = Assessment::from_json(text);
        }
    }
}
