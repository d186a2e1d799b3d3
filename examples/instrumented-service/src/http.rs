//! The HTTP side: routes, JSON bodies, answers.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /ask` | `{"question": "..."}` | `200 {"answer", "trace_id", "span_id"}` |
//! | `POST /feedback` | `{"trace_id", "thumbs": "up"\|"down", "span_id"?, "user"?, "comment"?}` | `202 {"assessment_id"}` |
//! | `GET /health` | | `200 ok` |
//!
//! A malformed request answers 400 with `{"error": "<what is wrong>"}`.

use std::io::Read as _;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response};
use verdict::{Assessment, AssessmentSource, Recorder, Target, mlflow_trace_id};
use verdict_scorer::{OwnedRecord, Scorer, score_to_feedback};

use crate::answer::answer;

/// The largest request body read, in bytes.
const MAX_BODY: u64 = 64 * 1024;

/// The name of the users' thumbs up/down feedback.
pub const THUMBS_UP: &str = "thumbs_up";

/// What the routes need.
pub(crate) struct App<'a> {
    /// The inline CODE check of every answer.
    pub(crate) scorer: Box<dyn Scorer>,
    /// Where assessments go.
    pub(crate) recorder: &'a Recorder,
}

/// A response: a status and a JSON body.
type Reply = (u16, Value);

fn bad_request(message: impl Into<String>) -> Reply {
    (400, json!({"error": message.into()}))
}

impl App<'_> {
    /// Answers one request. The client going away before the answer is
    /// written is reported on stderr; nothing else can be done about it.
    pub(crate) fn handle(&self, mut request: Request) {
        let (status, body) = match (request.method(), request.url()) {
            (Method::Post, "/ask") => read_json(&mut request).map_or_else(|e| e, |b| self.ask(&b)),
            (Method::Post, "/feedback") => {
                read_json(&mut request).map_or_else(|e| e, |b| self.feedback(&b))
            }
            (Method::Get, "/health") => (200, json!("ok")),
            (method, url) => (
                404,
                json!({"error": format!(
                    "no route {method} {url}: use POST /ask, POST /feedback or GET /health"
                )}),
            ),
        };
        let mut response = Response::from_string(body.to_string()).with_status_code(status);
        // A constant, valid header: `from_bytes` only refuses non-ASCII.
        if let Ok(json) = Header::from_bytes("Content-Type", "application/json") {
            response = response.with_header(json);
        }
        if let Err(e) = request.respond(response) {
            eprintln!("instrumented-service: could not send an answer: {e}");
        }
    }

    /// `POST /ask`: answers in a server span, and records the inline CODE
    /// check on that span.
    fn ask(&self, body: &Value) -> Reply {
        let Some(question) = body["question"].as_str() else {
            return bad_request("the body needs a \"question\" string: {\"question\": \"...\"}");
        };
        // `mlflow.span*` attributes are what MLflow's UI shows as the
        // request and the response of a trace (JSON text).
        let span = tracing::info_span!(
            "POST /ask",
            otel.kind = "server",
            question,
            "mlflow.spanType" = "CHAIN",
            "mlflow.spanInputs" = %json!({"question": question}),
            "mlflow.spanOutputs" = tracing::field::Empty,
        );
        let _entered = span.enter();
        let answer = answer(question);
        span.record("mlflow.spanOutputs", json!(answer).to_string());
        let target = match Target::current_tracing_span() {
            Ok(target) => target,
            Err(e) => return (500, json!({"error": e.to_string()})),
        };
        // The user gets the answer even if the check cannot be recorded;
        // the failure is reported, not hidden.
        let record = OwnedRecord::new(question, answer.as_str());
        match score_to_feedback(self.scorer.as_ref(), &record, target) {
            Ok(feedback) => {
                if let Err(e) = self.recorder.record(feedback) {
                    eprintln!("instrumented-service: the inline check was not recorded: {e}");
                }
            }
            Err(e) => eprintln!("instrumented-service: the inline check is not valid: {e}"),
        }
        (
            200,
            json!({
                "answer": answer,
                "trace_id": mlflow_trace_id(target.trace_id()),
                "span_id": target.span_id().map(|s| format!("{s:016x}")),
            }),
        )
    }

    /// `POST /feedback`: a user's thumbs up or down, as HUMAN feedback on
    /// the trace (or span) of the answer.
    fn feedback(&self, body: &Value) -> Reply {
        let Some(trace_id) = body["trace_id"].as_str() else {
            return bad_request(
                "the body needs the \"trace_id\" that /ask answered with, and \"thumbs\": \
                 \"up\" or \"down\"",
            );
        };
        let up = match body["thumbs"].as_str() {
            Some("up") => true,
            Some("down") => false,
            _ => return bad_request("\"thumbs\" must be \"up\" or \"down\""),
        };
        let optional = |key: &str| match &body[key] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.as_str())),
            _ => Err(bad_request(format!("\"{key}\" must be a string"))),
        };
        let (span_id, user, comment) =
            match (optional("span_id"), optional("user"), optional("comment")) {
                (Ok(span), Ok(user), Ok(comment)) => (span, user, comment),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
            };
        let target = match Target::parse(trace_id, span_id) {
            Ok(target) => target,
            Err(e) => return bad_request(e.to_string()),
        };
        let mut builder = Assessment::feedback(THUMBS_UP, up).source(AssessmentSource::human(
            user.unwrap_or("anonymous").to_owned(),
        ));
        if let Some(comment) = comment {
            builder = builder.rationale(comment.to_owned());
        }
        let feedback = match builder.on(target) {
            Ok(feedback) => feedback,
            Err(e) => return bad_request(e.to_string()),
        };
        match self.recorder.record(feedback) {
            Ok(id) => (202, json!({"assessment_id": id.to_string()})),
            Err(e) => (503, json!({"error": e.to_string()})),
        }
    }
}

/// The request's body as JSON, or the 400 answer saying why not.
fn read_json(request: &mut Request) -> Result<Value, Reply> {
    let mut text = String::new();
    request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad_request(format!("cannot read the body as UTF-8 text: {e}")))?;
    if text.len() as u64 > MAX_BODY {
        return Err(bad_request(format!(
            "the body is larger than {MAX_BODY} bytes"
        )));
    }
    serde_json::from_str(&text).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}
