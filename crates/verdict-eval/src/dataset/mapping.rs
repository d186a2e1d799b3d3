//! Which fields of a record are its inputs, outputs and expectations.
//!
//! Three shapes are recognised by the first record's fields, and read
//! strictly: a field a shape does not read is refused, so that a typo is
//! never a record silently without its expectations.
//!
//! | shape | inputs | outputs | expectations | also read | ignored |
//! |---|---|---|---|---|---|
//! | MLflow's evaluation records | `inputs` | `outputs` | `expectations` (an object) | `trace_id`, `span_id` | MLflow's dataset record fields |
//! | MLflow's request/response (`mlflow.evaluate`'s agent schema) | `request` | `response` | `expected_response`, `expected_facts`, `expected_retrieved_context`, `guidelines` | | `request_id` |
//! | input/output/expected (Braintrust, many tools) | `input` | `output` | `expected` as `expected_response` | | `id`, `metadata`, `tags` |
//!
//! Anything else is read through a [`FieldMap`] a person gives
//! (`--map TARGET=FIELD`, `[dataset.map]` in `verdict.toml`), which reads
//! the fields it names and ignores the others. A dataset in no shape and
//! without a map is refused with the map that would most likely read it.

use std::fmt;

use serde_json::{Map, Value};

use super::{Entry, invalid, make_record};

/// Where a dataset's records take their inputs, outputs and expectations
/// from, for records in none of the shapes Verdict recognises.
///
/// Each entry is `TARGET=FIELD`: the field (a JSON key, a CSV column) that
/// gives `TARGET`, one of `inputs`, `outputs`, `inputs.KEY` or
/// `outputs.KEY` (several fields made into one object),
/// `expectations.NAME` (one expectation), `expectations` (a field holding
/// an object of expectations), `trace_id` and `span_id`.
///
/// ```
/// use verdict_eval::FieldMap;
///
/// let mut map = FieldMap::default();
/// map.add("inputs=question")?;
/// map.add("outputs=answer")?;
/// map.add("expectations.expected_response=gold")?;
/// assert_eq!(
///     map.to_string(),
///     "--map inputs=question --map outputs=answer --map expectations.expected_response=gold"
/// );
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldMap {
    entries: Vec<(Target, String)>,
}

/// What a field of a record becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// The inputs, or one key of them (`inputs.KEY`).
    Inputs(Option<String>),
    /// The outputs, or one key of them.
    Outputs(Option<String>),
    /// One expectation (`expectations.NAME`), or an object of them.
    Expectations(Option<String>),
    TraceId,
    SpanId,
}

/// The targets, for messages.
const TARGETS: &str =
    "inputs, inputs.KEY, outputs, outputs.KEY, expectations.NAME, expectations, trace_id, span_id";

impl Target {
    fn parse(text: &str) -> Result<Target, String> {
        let (head, key) = match text.split_once('.') {
            Some((head, key)) => (head, Some(key)),
            None => (text, None),
        };
        let keyed = |what: &str| -> Result<Option<String>, String> {
            match key {
                None => Ok(None),
                Some("") => Err(format!("{text:?} names no {what} after the dot")),
                Some(key) => Ok(Some(key.to_owned())),
            }
        };
        Ok(match head {
            "inputs" => Target::Inputs(keyed("key")?),
            "outputs" => Target::Outputs(keyed("key")?),
            "expectations" => {
                let name = keyed("expectation")?;
                if let Some(name) = &name {
                    verdict::AssessmentName::new(name.clone())
                        .map_err(|e| format!("{text:?}: {e}"))?;
                }
                Target::Expectations(name)
            }
            "trace_id" if key.is_none() => Target::TraceId,
            "span_id" if key.is_none() => Target::SpanId,
            _ => return Err(format!("{text:?} is not a target: give one of {TARGETS}")),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, key) = match self {
            Target::Inputs(key) => ("inputs", key),
            Target::Outputs(key) => ("outputs", key),
            Target::Expectations(key) => ("expectations", key),
            Target::TraceId => ("trace_id", &None),
            Target::SpanId => ("span_id", &None),
        };
        match key {
            Some(key) => write!(f, "{head}.{key}"),
            None => f.write_str(head),
        }
    }
}

impl FieldMap {
    /// Adds `TARGET=FIELD`, as `--map` gives it. A target given again
    /// takes its new field.
    pub fn add(&mut self, arg: &str) -> Result<(), String> {
        let (target, field) = arg.split_once('=').ok_or_else(|| {
            format!(
                "{arg:?} is not TARGET=FIELD (such as inputs=question or \
                 expectations.expected_response=gold)"
            )
        })?;
        self.insert(target.trim(), field)
    }

    /// Reads `target` from `field`.
    pub fn insert(&mut self, target: &str, field: &str) -> Result<(), String> {
        let target = Target::parse(target)?;
        if field.is_empty() {
            return Err(format!("{target}= names no field: write {target}=FIELD"));
        }
        self.entries.retain(|(t, _)| *t != target);
        self.entries.push((target, field.to_owned()));
        Ok(())
    }

    /// Adds every entry of `other`, which wins over this map's for the
    /// same target (the command line over `verdict.toml`).
    pub fn extend(&mut self, other: &FieldMap) {
        for (target, field) in &other.entries {
            self.entries.retain(|(t, _)| t != target);
            self.entries.push((target.clone(), field.clone()));
        }
    }

    /// Its entries, (target, field), in order: what [`FieldMap::insert`]
    /// makes the same map of again.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(target, field)| (target.to_string(), field.clone()))
            .collect()
    }

    /// Whether it maps nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The same map as `verdict.toml`'s `[dataset.map]` table.
    pub fn to_toml(&self) -> String {
        let mut text = String::from("[dataset.map]\n");
        for (target, field) in &self.entries {
            let field = Value::String(field.clone());
            let key = match target {
                Target::Inputs(Some(key))
                | Target::Outputs(Some(key))
                | Target::Expectations(Some(key)) => {
                    let head = target.to_string();
                    let head = &head[..head.len() - key.len() - 1];
                    format!("{head}.{}", toml_key(key))
                }
                _ => target.to_string(),
            };
            text.push_str(&format!("{key} = {field}\n"));
        }
        text
    }
}

/// As the command line writes it: `--map TARGET=FIELD ...`.
impl fmt::Display for FieldMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (target, field)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "--map {target}={}", shell_word(field))?;
        }
        Ok(())
    }
}

/// A TOML key: bare when it can be, else quoted.
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// A field name as a shell word: quoted when it holds anything but
/// letters, digits and `_.-`.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A shape of records that Verdict recognises by its field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `inputs`, `outputs`, `expectations`: MLflow's evaluation records.
    Evaluation,
    /// `request`, `response`, `expected_response`: MLflow's agent
    /// evaluation schema.
    RequestResponse,
    /// `input`, `output`, `expected`.
    InputOutput,
}

/// The fields of MLflow's managed evaluation dataset records
/// (`mlflow.entities.DatasetRecord`) besides inputs, outputs and
/// expectations: read and ignored, so that exported records are read as
/// they are.
pub(super) const MLFLOW_RECORD_FIELDS: &[&str] = &[
    "dataset_record_id",
    "dataset_id",
    "tags",
    "source",
    "source_id",
    "source_type",
    "created_time",
    "last_update_time",
    "created_by",
    "last_updated_by",
];

/// The expectations of MLflow's request/response records.
const REQUEST_RESPONSE_EXPECTATIONS: [&str; 4] = [
    "expected_response",
    "expected_facts",
    "expected_retrieved_context",
    "guidelines",
];

impl Shape {
    /// The shape the first record's fields are in: the one whose inputs or
    /// outputs field it has.
    pub(super) fn detect<'a>(fields: impl IntoIterator<Item = &'a str> + Clone) -> Option<Shape> {
        let has = |names: &[&str]| fields.clone().into_iter().any(|f| names.contains(&f));
        if has(&["inputs", "outputs", "expectations"]) {
            Some(Shape::Evaluation)
        } else if has(&["request", "response"]) {
            Some(Shape::RequestResponse)
        } else if has(&["input", "output", "expected"]) {
            Some(Shape::InputOutput)
        } else {
            None
        }
    }

    /// Its name, for messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Shape::Evaluation => "MLflow's evaluation shape",
            Shape::RequestResponse => "MLflow's request/response shape",
            Shape::InputOutput => "the input/output/expected shape",
        }
    }

    /// How its records are read.
    pub(super) fn plan(self) -> Plan {
        let field = |name: &str| Part::Field(name.to_owned());
        let (inputs, outputs, expectations, object, ids, ignored): (_, _, Vec<_>, _, _, _) =
            match self {
                Shape::Evaluation => (
                    "inputs",
                    "outputs",
                    Vec::new(),
                    Some("expectations"),
                    true,
                    MLFLOW_RECORD_FIELDS,
                ),
                Shape::RequestResponse => (
                    "request",
                    "response",
                    REQUEST_RESPONSE_EXPECTATIONS
                        .iter()
                        .map(|n| ((*n).to_owned(), (*n).to_owned()))
                        .collect(),
                    None,
                    false,
                    &["request_id"],
                ),
                Shape::InputOutput => (
                    "input",
                    "output",
                    vec![("expected_response".to_owned(), "expected".to_owned())],
                    None,
                    false,
                    &["id", "metadata", "tags"],
                ),
            };
        Plan {
            inputs: field(inputs),
            outputs: field(outputs),
            expectations,
            expectations_object: object.map(str::to_owned),
            trace_id: ids.then(|| "trace_id".to_owned()),
            span_id: ids.then(|| "span_id".to_owned()),
            ignored,
            shape: Some(self),
            checked: true,
        }
    }
}

/// Where inputs or outputs come from: one field, or several made into an
/// object.
#[derive(Clone, Debug)]
enum Part {
    Field(String),
    Object(Vec<(String, String)>),
}

/// How records are read: a recognised shape's fields, or a map's.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    inputs: Part,
    outputs: Part,
    /// (expectation name, field).
    expectations: Vec<(String, String)>,
    /// A field holding an object of expectations.
    expectations_object: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
    /// Fields read and ignored.
    ignored: &'static [&'static str],
    /// The recognised shape, which refuses fields it does not read; `None`
    /// for a map a person gave, which ignores them.
    shape: Option<Shape>,
    /// Whether the first record was checked for every field the map names.
    checked: bool,
}

/// A record's fields, taken one by one.
pub(super) struct Fields {
    map: Map<String, Value>,
    /// Whether they are CSV cells: an empty cell of an optional field is
    /// no value.
    csv: bool,
}

impl Fields {
    /// A JSON record's fields.
    pub(super) fn json(map: Map<String, Value>) -> Self {
        Fields { map, csv: false }
    }

    /// A CSV row's cells by column.
    pub(super) fn csv(map: Map<String, Value>) -> Self {
        Fields { map, csv: true }
    }

    /// An optional field: absent, null or an empty cell is no value.
    fn take_optional(&mut self, name: &str) -> Option<Value> {
        match self.map.remove(name)? {
            Value::Null => None,
            Value::String(s) if self.csv && s.is_empty() => None,
            value => Some(value),
        }
    }
}

impl Plan {
    /// The plan of a map a person gave.
    pub(super) fn from_map(map: &FieldMap) -> Result<Plan, String> {
        let mut plan = Plan {
            inputs: Part::Object(Vec::new()),
            outputs: Part::Object(Vec::new()),
            expectations: Vec::new(),
            expectations_object: None,
            trace_id: None,
            span_id: None,
            ignored: &[],
            shape: None,
            checked: false,
        };
        let (mut inputs, mut outputs) = (None, None);
        for (target, field) in &map.entries {
            let field = field.clone();
            match target {
                Target::Inputs(key) => part(&mut plan.inputs, &mut inputs, "inputs", key, field)?,
                Target::Outputs(key) => {
                    part(&mut plan.outputs, &mut outputs, "outputs", key, field)?
                }
                Target::Expectations(Some(name)) => plan.expectations.push((name.clone(), field)),
                Target::Expectations(None) => plan.expectations_object = Some(field),
                Target::TraceId => plan.trace_id = Some(field),
                Target::SpanId => plan.span_id = Some(field),
            }
        }
        let missing: Vec<&str> = [("inputs", inputs), ("outputs", outputs)]
            .iter()
            .filter(|(_, given)| given.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the field map gives no {}: map it too (such as --map {}=FIELD)",
                missing.join(" and no "),
                missing[0]
            ));
        }
        Ok(plan)
    }

    /// The fields this plan reads, for messages.
    fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for p in [&self.inputs, &self.outputs] {
            match p {
                Part::Field(f) => fields.push(f),
                Part::Object(parts) => fields.extend(parts.iter().map(|(_, f)| f.as_str())),
            }
        }
        fields.extend(self.expectations.iter().map(|(_, f)| f.as_str()));
        fields.extend(
            [&self.expectations_object, &self.trace_id, &self.span_id]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        fields
    }

    /// Whether it reads the field `name`.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(super) fn reads(&self, name: &str) -> bool {
        self.fields().contains(&name) || (self.shape == Some(Shape::Evaluation) && name == "trace")
    }

    /// Whether a record with the field `name` is refused: a recognised
    /// shape refuses the fields it neither reads nor ignores.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(super) fn refuses(&self, name: &str) -> bool {
        self.shape.is_some() && !self.reads(name) && !self.ignored.contains(&name)
    }

    /// Whether it is a person's map, not a recognised shape's.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(super) fn is_map(&self) -> bool {
        self.shape.is_none()
    }

    /// Checks, on the first record, that every field a person's map names
    /// is there: a misspelt column would otherwise make every record
    /// invalid, or silently without an expectation.
    pub(super) fn check_first(&mut self, line: usize, fields: &[&str]) -> Result<(), String> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        let missing: Vec<&str> = self
            .fields()
            .into_iter()
            .filter(|f| !fields.contains(f))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the field map reads {} {}, which the first record (line {line}) does not have; its \
             fields are {}",
            if missing.len() == 1 {
                "field"
            } else {
                "fields"
            },
            quoted_list(&missing),
            quoted_list(fields)
        ))
    }

    /// Reads one record's fields; a record without its outputs' field is
    /// read with null outputs when `outputs_optional`.
    pub(super) fn apply(&self, line: usize, mut fields: Fields, outputs_optional: bool) -> Entry {
        let mut part = |part: &Part, what: &str| -> Result<Value, String> {
            match part {
                Part::Field(field) => fields
                    .map
                    .remove(field)
                    .ok_or_else(|| format!("it has no field `{field}`, which gives its {what}")),
                Part::Object(parts) => parts
                    .iter()
                    .map(|(key, field)| {
                        let value = fields.map.remove(field).ok_or_else(|| {
                            format!("it has no field `{field}`, which gives its {what}.{key}")
                        })?;
                        Ok((key.clone(), value))
                    })
                    .collect::<Result<Map<_, _>, String>>()
                    .map(Value::Object),
            }
        };
        let inputs = match part(&self.inputs, "inputs") {
            Ok(v) => v,
            Err(reason) => return invalid(line, reason),
        };
        let outputs = match part(&self.outputs, "outputs") {
            Ok(v) => v,
            Err(_) if outputs_optional => Value::Null,
            Err(reason) => return invalid(line, reason),
        };
        let mut expectations = Vec::new();
        for (name, field) in &self.expectations {
            if let Some(value) = fields.take_optional(field) {
                expectations.push((name.clone(), value));
            }
        }
        if let Some(field) = &self.expectations_object {
            match fields.take_optional(field) {
                None => {}
                Some(Value::Object(object)) => expectations.extend(object),
                Some(_) => {
                    return invalid(
                        line,
                        format!(
                            "`{field}` is not an object: it holds the expectations, by name \
                             (such as {{\"expected_response\": \"Paris\"}})"
                        ),
                    );
                }
            }
        }
        let mut id = |field: &Option<String>| -> Result<Option<String>, String> {
            match field.as_deref().map(|f| (f, fields.take_optional(f))) {
                None | Some((_, None)) => Ok(None),
                Some((_, Some(Value::String(s)))) => Ok(Some(s)),
                Some((f, Some(other))) => Err(format!("`{f}` is {other}, not a string of hex")),
            }
        };
        let (trace_id, span_id) = match (id(&self.trace_id), id(&self.span_id)) {
            (Ok(t), Ok(s)) => (t, s),
            (Err(reason), _) | (_, Err(reason)) => return invalid(line, reason),
        };
        // MLflow's evaluation records may carry the trace they came from.
        let trace = match self.shape {
            Some(Shape::Evaluation) => fields.take_optional("trace"),
            _ => None,
        };
        if let Some(shape) = self.shape {
            let unknown = fields
                .map
                .keys()
                .find(|k| !self.ignored.contains(&k.as_str()));
            if let Some(unknown) = unknown {
                return invalid(
                    line,
                    format!(
                        "unknown field `{unknown}`: {} reads {}; to read records with other \
                         fields, map them with --map (such as {})",
                        shape.name(),
                        quoted_list(&self.fields()),
                        self.as_map()
                    ),
                );
            }
        }
        let entry = make_record(
            line,
            inputs,
            outputs,
            expectations,
            trace_id.as_deref(),
            span_id.as_deref(),
        );
        match (entry, trace) {
            (Entry::Record(record), Some(trace)) => super::trace::with_mlflow_trace(record, &trace),
            (entry, _) => entry,
        }
    }

    /// This plan as a person's map.
    fn as_map(&self) -> FieldMap {
        let mut map = FieldMap::default();
        let mut add = |target: Target, field: &str| map.entries.push((target, field.to_owned()));
        for (p, target) in [
            (&self.inputs, Target::Inputs as fn(Option<String>) -> Target),
            (&self.outputs, Target::Outputs),
        ] {
            match p {
                Part::Field(f) => add(target(None), f),
                Part::Object(parts) => {
                    for (key, f) in parts {
                        add(target(Some(key.clone())), f);
                    }
                }
            }
        }
        for (name, f) in &self.expectations {
            add(Target::Expectations(Some(name.clone())), f);
        }
        if let Some(f) = &self.expectations_object {
            add(Target::Expectations(None), f);
        }
        map
    }
}

/// Sets inputs or outputs from one field, or one key of them; `given`
/// says how the map gave them so far (`Some(true)`: from one field,
/// `Some(false)`: by keys), so that the two ways are not mixed.
fn part(
    part: &mut Part,
    given: &mut Option<bool>,
    what: &str,
    key: &Option<String>,
    field: String,
) -> Result<(), String> {
    match (key, &*given, &mut *part) {
        (None, Some(false), _) | (Some(_), Some(true), _) => {
            return Err(format!(
                "the field map gives both {what} and {what}.KEY: give {what} from one field, \
                 or build it from several with {what}.KEY"
            ));
        }
        (None, _, _) => *part = Part::Field(field),
        (Some(key), _, Part::Object(parts)) => parts.push((key.clone(), field)),
        (Some(key), _, Part::Field(_)) => *part = Part::Object(vec![(key.clone(), field)]),
    }
    *given = Some(key.is_none());
    Ok(())
}

/// Names as `a`, `b`, `c`.
fn quoted_list(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Field names that usually hold inputs, in order of likelihood.
const INPUT_NAMES: &[&str] = &[
    "question",
    "query",
    "prompt",
    "user_input",
    "instruction",
    "input_text",
    "text",
    "messages",
    "q",
];
/// Field names that usually hold outputs.
const OUTPUT_NAMES: &[&str] = &[
    "answer",
    "actual_output",
    "completion",
    "prediction",
    "generated",
    "generation",
    "model_output",
    "output_text",
    "result",
    "a",
];
/// Field names that usually hold the expected response.
const EXPECTED_NAMES: &[&str] = &[
    "expected_response",
    "expected_output",
    "expected_answer",
    "reference",
    "reference_answer",
    "ground_truth",
    "gold",
    "gold_answer",
    "target",
    "label",
    "ideal",
    "correct_answer",
];

/// Why a dataset whose first record is in no shape is refused, with the
/// map that would most likely read it: the fields with the usual names of
/// inputs, outputs and the expected response (exactly, ignoring case, then
/// as part of the name), and `trace_id` / `span_id`.
pub(super) fn refusal(line: usize, fields: &[&str]) -> String {
    let mut taken: Vec<&str> = Vec::new();
    let mut pick = |names: &[&str]| -> Option<String> {
        let free: Vec<(&str, String)> = fields
            .iter()
            .filter(|f| !taken.contains(f))
            .map(|f| (*f, f.to_ascii_lowercase()))
            .collect();
        let found = names
            .iter()
            .find_map(|n| free.iter().find(|(_, lower)| lower == n))
            .or_else(|| {
                names
                    .iter()
                    .filter(|n| n.len() > 2)
                    .find_map(|n| free.iter().find(|(_, lower)| lower.contains(*n)))
            })?
            .0;
        taken.push(found);
        Some(found.to_owned())
    };
    let inputs = pick(INPUT_NAMES);
    let outputs = pick(OUTPUT_NAMES);
    let expected = pick(EXPECTED_NAMES);
    let mut map = FieldMap::default();
    let mut push = |target: Target, field: &str| map.entries.push((target, field.to_owned()));
    push(Target::Inputs(None), inputs.as_deref().unwrap_or("FIELD"));
    push(Target::Outputs(None), outputs.as_deref().unwrap_or("FIELD"));
    if let Some(expected) = &expected {
        push(
            Target::Expectations(Some("expected_response".into())),
            expected,
        );
    }
    for id in ["trace_id", "span_id"] {
        if fields.contains(&id) {
            push(Target::parse(id).expect("a target"), id);
        }
    }
    let sure = inputs.is_some() && outputs.is_some();
    format!(
        "its records are in none of the shapes read without a map (inputs/outputs/expectations, \
         request/response/expected_response, input/output/expected): the first one (line {line}) \
         has the fields {}. {} {map}, or in verdict.toml:\n{}",
        quoted_list(fields),
        if sure {
            "Read them with"
        } else {
            "Say which fields to read, with"
        },
        map.to_toml().trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        let mut map = FieldMap::default();
        for arg in [
            "inputs.question=q",
            "inputs.context=ctx",
            "outputs=answer",
            "expectations.expected_response=gold",
            "expectations=labels",
            "trace_id=tid",
        ] {
            map.add(arg).unwrap();
        }
        assert_eq!(
            map.to_string(),
            "--map inputs.question=q --map inputs.context=ctx --map outputs=answer --map \
             expectations.expected_response=gold --map expectations=labels --map trace_id=tid"
        );
        let plan = Plan::from_map(&map).unwrap();
        assert_eq!(
            plan.fields(),
            ["q", "ctx", "answer", "gold", "labels", "tid"]
        );
    }

    #[test]
    fn a_bad_target_says_what_is_allowed() {
        let mut map = FieldMap::default();
        for (arg, said) in [
            ("input=q", "is not a target"),
            ("inputs", "is not TARGET=FIELD"),
            ("inputs=", "names no field"),
            ("expectations.=x", "names no expectation"),
            ("expectations.a.b=x", "'.'"),
            ("trace_id.x=y", "is not a target"),
        ] {
            let err = map.add(arg).unwrap_err();
            assert!(err.contains(said), "{arg}: {err}");
        }
        map.add("inputs=q").unwrap();
        let err = Plan::from_map(&map).unwrap_err();
        assert!(err.contains("gives no outputs"), "{err}");
        map.add("outputs=a").unwrap();
        map.add("inputs.k=q").unwrap();
        let err = Plan::from_map(&map).unwrap_err();
        assert!(err.contains("both inputs and inputs.KEY"), "{err}");
    }

    #[test]
    fn the_refusal_suggests_the_likeliest_map() {
        let said = refusal(1, &["id", "Question", "model_answer", "gold", "trace_id"]);
        assert!(
            said.contains(
                "Read them with --map inputs=Question --map outputs=model_answer --map \
                 expectations.expected_response=gold --map trace_id=trace_id"
            ),
            "{said}"
        );
        assert!(
            said.contains("\nexpectations.expected_response = \"gold\""),
            "{said}"
        );
        let said = refusal(3, &["x", "y"]);
        assert!(
            said.contains("Say which fields to read, with --map inputs=FIELD --map outputs=FIELD"),
            "{said}"
        );
        assert!(
            said.contains("line 3") && said.contains("`x`, `y`"),
            "{said}"
        );
    }
}
