//! The system under observation: a tiny question-answering pipeline with a
//! retrieval step and a generation step, each a `tracing` span.

/// What the service knows, as (keyword, passage) pairs.
const PASSAGES: &[(&str, &str)] = &[
    ("france", "Paris is the capital of France."),
    ("italy", "Rome is the capital of Italy."),
    ("japan", "Tokyo is the capital of Japan."),
    (
        "australia",
        "Sydney is the largest city of Australia; Canberra is its capital.",
    ),
    ("eiffel", "The Eiffel Tower in Paris opened in 1889."),
];

/// Answers a question: retrieves passages, then "generates" from them.
#[tracing::instrument]
pub(crate) fn answer(question: &str) -> String {
    let passages = retrieve(question);
    generate(question, &passages)
}

/// The passages whose keyword the question mentions.
#[tracing::instrument(fields(passages))]
fn retrieve(question: &str) -> Vec<&'static str> {
    let question = question.to_lowercase();
    let found: Vec<&'static str> = PASSAGES
        .iter()
        .filter(|(keyword, _)| question.contains(keyword))
        .map(|(_, passage)| *passage)
        .collect();
    tracing::Span::current().record("passages", found.len());
    found
}

/// The first passage, or an admission; a deliberately naive generator, so
/// that feedback has something to disagree with.
#[tracing::instrument(skip(passages))]
fn generate(question: &str, passages: &[&str]) -> String {
    match passages.first() {
        Some(passage) => (*passage).to_owned(),
        None => "I don't know.".to_owned(),
    }
}
