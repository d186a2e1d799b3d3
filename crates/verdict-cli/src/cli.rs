//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Assessments for OpenTelemetry traces: score outputs with heuristic
/// scorers, built in or loaded from plugins.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the scorers: built in, from --plugin, and from VERDICT_PLUGIN_PATH.
    Scorers(ScorersArgs),
    /// Score one record and print the result as one JSON object.
    Score(ScoreArgs),
}

/// Where plugins come from.
#[derive(Debug, Args)]
pub(crate) struct PluginArgs {
    /// Load a scorer plugin (a dynamic library); repeatable. Plugins in the
    /// directories of VERDICT_PLUGIN_PATH are loaded too.
    #[arg(long = "plugin", value_name = "PATH")]
    pub(crate) plugins: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ScorersArgs {
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    /// The scorer: NAME, NAME:key=value,key=value, NAME:{json}, or a plugin
    /// file PATH[:config].
    #[arg(long, value_name = "SPEC")]
    pub(crate) scorer: String,
    /// The output to score.
    #[arg(long, value_name = "TEXT")]
    pub(crate) output: String,
    /// The expected response (the expectation `expected_response`); give it
    /// several times for a list of acceptable answers.
    #[arg(long, value_name = "TEXT")]
    pub(crate) expected: Vec<String>,
    /// Another expectation, as NAME=VALUE (VALUE is read as JSON when it
    /// parses, else as text); repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub(crate) expectation: Vec<String>,
    /// The input the output answers.
    #[arg(long, value_name = "TEXT")]
    pub(crate) input: Option<String>,
}
