//! `verdict.toml`: the scorers of a suite with their config, pass criteria
//! and weights, and the suite's gates.
//!
//! ```toml
//! [[scorers]]
//! spec = "exact_match"              # a scorer spec, as on the command line
//! config = { normalize = "squad" }  # merged over the spec's own config
//! weight = 2                        # in the weighted pass rate (default 1)
//! fail_under = 0.5                  # gate: this scorer's pass rate
//!
//! [[scorers]]
//! spec = "token_f1"
//! threshold = 0.5                   # a number at or above it passes
//!
//! [[scorers]]
//! spec = "edit_distance:report=distance"
//! max = 3                           # a number at or below it passes
//!
//! [gates]
//! weighted_pass_rate = 0.6          # gate: the weighted mean of pass rates
//! baseline_tolerance = 0.02         # a pass rate may drop this much below --baseline
//! # gates in MLflow's quality_criteria language (a string, or a list of them)
//! gate = "token_f1 >= 0.6 AND `edit_distance/p90` <= 3"
//!
//! [dataset]                         # how to read the dataset, when its name and
//! format = "csv"                    # fields do not tell: jsonl, json, csv, tsv, otlp
//!
//! [dataset.map]                     # which field gives what (as --map TARGET=FIELD)
//! inputs = "question"
//! outputs = "answer"
//! expectations.expected_response = "gold"
//!
//! [plugins]                         # how plugins that are not built in run
//! trusted = ["plugins/libmine.so"]  # run in the verdict process (as --trusted-plugin)
//! timeout = "30s"                   # a worker's time for one batch (--plugin-timeout)
//! memory_mib = 2048                 # a worker's address space (--plugin-memory)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use verdict_scorer::{Registry, Scorer, ScorerSpec, SpecTarget};

use crate::criteria::{self, Condition};
use crate::dataset::{DatasetOptions, Format};
use crate::error::{Error, Result};
use crate::gates::PassCriterion;

/// One scorer of a suite: which, configured how, and judged how.
#[derive(Clone, Debug, PartialEq)]
pub struct ScorerSetup {
    /// The scorer and its config.
    pub spec: ScorerSpec,
    /// When a value passes.
    pub pass: PassCriterion,
    /// Its weight in the weighted pass rate.
    pub weight: f64,
    /// The lowest pass rate its gate accepts, if it has a gate.
    pub fail_under: Option<f64>,
}

impl ScorerSetup {
    /// A scorer with the default criterion (bools pass when true), weight
    /// 1 and no gate.
    pub fn new(spec: ScorerSpec) -> Self {
        ScorerSetup {
            spec,
            pass: PassCriterion::Default,
            weight: 1.0,
            fail_under: None,
        }
    }

    /// The name the spec gives, when it names a scorer rather than a file.
    pub fn spec_name(&self) -> Option<&str> {
        match &self.spec.target {
            SpecTarget::Name(name) => Some(name),
            SpecTarget::Path(_) => None,
        }
    }
}

/// The gates of a whole suite.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SuiteGates {
    /// The lowest weighted mean of the scorers' pass rates accepted.
    pub weighted_pass_rate: Option<f64>,
    /// How far below a baseline run's pass rate a scorer may fall.
    pub baseline_tolerance: f64,
    /// Conditions in MLflow's `quality_criteria` language (`gate` in
    /// verdict.toml, `--gate`), each a gate of its own: see [`criteria`].
    pub conditions: Vec<Condition>,
}

/// How the plugins of a suite run (`[plugins]`): which files run in the
/// `verdict` process itself, and the limits of the worker processes the
/// others run in. Unset limits are the defaults of
/// [`Isolation`](verdict_scorer::Isolation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginSettings {
    /// Plugin files trusted to run in-process (relative to the file's
    /// directory).
    pub trusted: Vec<PathBuf>,
    /// How long a worker may take on one batch.
    pub timeout: Option<Duration>,
    /// A worker's address space, in MiB; 0 for no limit.
    pub memory_mib: Option<u64>,
}

/// A suite: scorers and gates, from `verdict.toml` or built in code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SuiteConfig {
    /// The scorers, in order.
    pub scorers: Vec<ScorerSetup>,
    /// The suite's gates.
    pub gates: SuiteGates,
    /// How its dataset is read (`[dataset]`).
    pub dataset: DatasetOptions,
    /// How its plugins run (`[plugins]`).
    pub plugins: PluginSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    scorers: Vec<ScorerEntry>,
    #[serde(default)]
    gates: Option<GatesEntry>,
    #[serde(default)]
    dataset: Option<DatasetEntry>,
    #[serde(default)]
    plugins: Option<PluginsEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginsEntry {
    #[serde(default)]
    trusted: Vec<PathBuf>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    memory_mib: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetEntry {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    map: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScorerEntry {
    spec: String,
    #[serde(default)]
    config: Option<Map<String, Value>>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    pass_labels: Option<Vec<String>>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    fail_under: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesEntry {
    #[serde(default)]
    weighted_pass_rate: Option<f64>,
    #[serde(default)]
    baseline_tolerance: Option<f64>,
    #[serde(default)]
    gate: Option<OneOrMany>,
}

/// A string, or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl SuiteConfig {
    /// Reads `verdict.toml`. Plugin paths in specs are relative to the
    /// file's directory.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: format!("cannot read it: {e}"),
        })?;
        SuiteConfig::from_toml(&text, path)
    }

    /// Parses the text of a `verdict.toml` found at `path` (for messages
    /// and relative plugin paths).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let error = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut scorers = Vec::new();
        for (i, entry) in file.scorers.into_iter().enumerate() {
            let at = format!("scorers[{i}] ({:?})", entry.spec);
            let mut spec: ScorerSpec = entry
                .spec
                .parse()
                .map_err(|e| error(format!("{at}: {e}")))?;
            if let SpecTarget::Path(file) = &spec.target
                && file.is_relative()
            {
                spec.target = SpecTarget::Path(dir.join(file));
            }
            spec.config.extend(entry.config.unwrap_or_default());
            let pass = match (entry.threshold, entry.max, entry.pass_labels) {
                (None, None, None) => PassCriterion::Default,
                (Some(min), None, None) => {
                    PassCriterion::AtLeast(finite(min, &at, "threshold", &error)?)
                }
                (None, Some(max), None) => PassCriterion::AtMost(finite(max, &at, "max", &error)?),
                (None, None, Some(labels)) => PassCriterion::Labels(labels),
                _ => {
                    return Err(error(format!(
                        "{at}: give at most one of threshold (a number at or above passes), max \
                         (a number at or below passes) and pass_labels"
                    )));
                }
            };
            let weight = entry.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(error(format!(
                    "{at}: weight is {weight}; give a number ≥ 0"
                )));
            }
            let fail_under = entry
                .fail_under
                .map(|rate| rate_in_range(rate).map_err(|e| error(format!("{at}: fail_under {e}"))))
                .transpose()?;
            scorers.push(ScorerSetup {
                spec,
                pass,
                weight,
                fail_under,
            });
        }
        let gates = file.gates.map_or(Ok(SuiteGates::default()), |g| {
            let texts = match g.gate {
                None => Vec::new(),
                Some(OneOrMany::One(text)) => vec![text],
                Some(OneOrMany::Many(texts)) => texts,
            };
            let mut conditions = Vec::new();
            for text in &texts {
                let parsed = criteria::parse(text, &format!("{} gates.gate", path.display()))
                    .map_err(|e| error(format!("gates.gate {text:?}: {e}")))?;
                conditions.extend(parsed);
            }
            Ok::<_, Error>(SuiteGates {
                conditions,
                weighted_pass_rate: g
                    .weighted_pass_rate
                    .map(|r| {
                        rate_in_range(r).map_err(|e| error(format!("gates.weighted_pass_rate {e}")))
                    })
                    .transpose()?,
                baseline_tolerance: g
                    .baseline_tolerance
                    .map(|r| {
                        rate_in_range(r).map_err(|e| error(format!("gates.baseline_tolerance {e}")))
                    })
                    .transpose()?
                    .unwrap_or(0.0),
            })
        })?;
        let dataset = match file.dataset {
            None => DatasetOptions::default(),
            Some(entry) => dataset_options(entry).map_err(|e| error(format!("dataset.{e}")))?,
        };
        let plugins = match file.plugins {
            None => PluginSettings::default(),
            Some(entry) => PluginSettings {
                trusted: entry.trusted.iter().map(|p| dir.join(p)).collect(),
                timeout: entry
                    .timeout
                    .map(|text| {
                        humantime::parse_duration(&text).map_err(|e| {
                            error(format!(
                                "plugins.timeout {text:?}: {e}; give a duration such as \"30s\" \
                                 or \"2m\""
                            ))
                        })
                    })
                    .transpose()?,
                memory_mib: entry.memory_mib,
            },
        };
        Ok(SuiteConfig {
            scorers,
            gates,
            dataset,
            plugins,
        })
    }

    /// The suite's scorers, made by `registry` in the suite's order: what
    /// an evaluation runs, and what `verdict serve` scores with. Refused
    /// when there is none, or when two have the same name (each scorer's
    /// feedback is named after it).
    pub fn create_scorers(&self, registry: &Registry) -> Result<Vec<Box<dyn Scorer>>> {
        if self.scorers.is_empty() {
            return Err(Error::Usage(
                "no scorer to run: give --scorer SPEC, or list scorers in verdict.toml".into(),
            ));
        }
        let mut scorers: Vec<Box<dyn Scorer>> = Vec::new();
        for setup in &self.scorers {
            let scorer = registry.create(&setup.spec)?;
            if let Some(other) = scorers.iter().find(|s| s.info().name == scorer.info().name) {
                return Err(Error::Usage(format!(
                    "two scorers are named {:?}: each scorer's feedback is named after it, so a \
                     run can hold one scorer of each name",
                    other.info().name
                )));
            }
            scorers.push(scorer);
        }
        Ok(scorers)
    }

    /// The setup of the scorer the spec names `name`.
    pub fn scorer_mut(&mut self, name: &str) -> Option<&mut ScorerSetup> {
        self.scorers
            .iter_mut()
            .find(|s| s.spec_name() == Some(name))
    }

    /// Adds the scorers of `specs` to the suite (as `--scorer` does with
    /// `--config`): a spec that names a scorer of the suite replaces its
    /// spec and config, keeping the criteria, weight and gate the suite
    /// gives it; any other is added, with the default criterion. No scorer
    /// of the suite, and no gate, is ever dropped: a command line that
    /// names one scorer must not weaken a CI job's verdict unseen.
    ///
    /// ```
    /// use std::path::Path;
    /// use verdict_eval::SuiteConfig;
    ///
    /// let toml = "[[scorers]]\nspec = \"exact_match\"\nfail_under = 0.8\n\n\
    ///             [[scorers]]\nspec = \"contains\"\n";
    /// let mut suite = SuiteConfig::from_toml(toml, Path::new("verdict.toml"))?;
    /// suite.merge_scorers(vec!["exact_match:normalize=squad".parse()?, "token_f1".parse()?]);
    /// let names: Vec<_> = suite.scorers.iter().filter_map(|s| s.spec_name()).collect();
    /// assert_eq!(names, ["exact_match", "contains", "token_f1"]);
    /// assert_eq!(suite.scorers[0].fail_under, Some(0.8));
    /// assert_eq!(suite.scorers[0].spec.config["normalize"], "squad");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge_scorers(&mut self, specs: Vec<ScorerSpec>) {
        for spec in specs {
            let same = self.scorers.iter_mut().find(|s| {
                matches!((&s.spec.target, &spec.target), (SpecTarget::Name(a), SpecTarget::Name(b)) if a == b)
            });
            match same {
                Some(setup) => setup.spec = spec,
                None => self.scorers.push(ScorerSetup::new(spec)),
            }
        }
    }

    /// Replaces the scorers with those of `specs`, keeping the criteria,
    /// weight and gate the config gave a scorer of the same name; the
    /// others, and their gates, are gone. For code that builds a suite;
    /// the command line and [`Suite`](crate::Suite) add scorers with
    /// [`merge_scorers`](Self::merge_scorers).
    pub fn replace_scorers(&mut self, specs: Vec<ScorerSpec>) {
        let old = std::mem::take(&mut self.scorers);
        self.scorers = specs
            .into_iter()
            .map(|spec| {
                let same = old.iter().find(|s| {
                    matches!((&s.spec.target, &spec.target), (SpecTarget::Name(a), SpecTarget::Name(b)) if a == b)
                });
                match same {
                    Some(setup) => ScorerSetup {
                        spec,
                        ..setup.clone()
                    },
                    None => ScorerSetup::new(spec),
                }
            })
            .collect();
    }

    /// Adds the conditions of a gate in MLflow's `quality_criteria`
    /// language (`--gate EXPR`), such as
    /// ``exact_match >= 0.9 AND `edit_distance/p90` <= 3``. A condition on a
    /// metric that verdict.toml gates too replaces that one. Which scorer
    /// each names is checked when the evaluation is made.
    pub fn add_gate(&mut self, expression: &str) -> Result<()> {
        let parsed = criteria::parse(expression, "--gate")
            .map_err(|e| Error::Usage(format!("--gate {expression:?}: {e}")))?;
        self.gates.conditions.extend(parsed);
        Ok(())
    }

    /// Applies `--fail-under NAME=RATE`.
    pub fn set_fail_under(&mut self, arg: &str) -> Result<()> {
        let (name, rate) = arg.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--fail-under {arg:?} is not SCORER=RATE (such as exact_match=0.8)"
            ))
        })?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| Error::Usage(format!("--fail-under {arg:?}: {rate:?} is not a number")))?;
        let rate = rate_in_range(rate)
            .map_err(|e| Error::Usage(format!("--fail-under {arg:?}: the rate {e}")))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::Usage(format!(
                "--fail-under {arg:?} names no scorer: write SCORER=RATE (such as \
                 exact_match=0.8)"
            )));
        }
        let known: Vec<String> = self
            .scorers
            .iter()
            .filter_map(|s| s.spec_name().map(str::to_owned))
            .collect();
        let no_scorer = self.scorers.is_empty();
        let setup = self.scorer_mut(name).ok_or_else(|| {
            Error::Usage(if no_scorer {
                format!(
                    "--fail-under {arg:?}: this run has no scorer yet; give --scorer {name}, or \
                     list it in verdict.toml"
                )
            } else if known.is_empty() {
                format!(
                    "--fail-under {arg:?}: no scorer {name:?} in this run (its scorers are \
                     given by path, which names none: load the plugin with --plugin PATH and \
                     give --scorer NAME)"
                )
            } else {
                format!(
                    "--fail-under {arg:?}: no scorer {name:?} in this run (scorers: {})",
                    known.join(", ")
                )
            })
        })?;
        // -0 is 0: a gate reads "≥ 0.0 %", not "≥ -0.0 %".
        setup.fail_under = Some(if rate == 0.0 { 0.0 } else { rate });
        Ok(())
    }
}

/// `[dataset]`: the format, and the map's targets, each a string field or
/// a table of them (`expectations.expected_response = "gold"` is TOML for
/// a table `expectations`).
fn dataset_options(entry: DatasetEntry) -> Result<DatasetOptions, String> {
    let format = entry
        .format
        .map(|f| f.parse::<Format>())
        .transpose()
        .map_err(|e| format!("format: {e}"))?;
    let mut options = DatasetOptions {
        format,
        ..DatasetOptions::default()
    };
    let field = |target: &str, value: &toml::Value| -> Result<String, String> {
        value.as_str().map(str::to_owned).ok_or_else(|| {
            format!(
                "map.{target} is {} {}; give the name of the field that gives it, as a string",
                if value.is_integer() || value.is_array() {
                    "an"
                } else {
                    "a"
                },
                value.type_str()
            )
        })
    };
    for (target, value) in entry.map.unwrap_or_default() {
        match value.as_table() {
            Some(keys) => {
                for (key, value) in keys {
                    let target = format!("{target}.{key}");
                    let name = field(&target, value)?;
                    options
                        .map
                        .insert(&target, &name)
                        .map_err(|e| format!("map.{target}: {e}"))?;
                }
            }
            None => {
                let name = field(&target, &value)?;
                options
                    .map
                    .insert(&target, &name)
                    .map_err(|e| format!("map.{target}: {e}"))?;
            }
        }
    }
    Ok(options)
}

fn finite(value: f64, at: &str, key: &str, error: &impl Fn(String) -> Error) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(error(format!(
            "{at}: {key} is {value}; give a finite number"
        )))
    }
}

/// A rate from 0 to 1.
fn rate_in_range(rate: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("is {rate}; give a rate from 0 to 1 (0.8 for 80 %)"))
    }
}
