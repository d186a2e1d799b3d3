//! `verdict scorers`: what can score, with versions and config keys.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use verdict_scorer::{Origin, ScorerInfo};

use verdict_eval::report::visible;

use crate::cli::ScorersArgs;
use crate::plugins::registry;

fn origin(info: &ScorerInfo) -> serde_json::Value {
    match &info.origin {
        Origin::Builtin => json!("builtin"),
        Origin::Plugin { path, sha256 } => json!({"path": path, "sha256": sha256}),
    }
}

pub(crate) fn run(args: &ScorersArgs) -> anyhow::Result<ExitCode> {
    let registry = registry(&args.plugins, &Default::default())?;
    let scorers = registry.scorers();
    let problems = registry.plugin_problems();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> =
            scorers
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "version": s.version,
                        "description": s.description,
                        "origin": origin(s),
                        "reads_trace": s.needs_trace,
                        "config": s.config_keys.iter().map(|k| json!({
                            "key": k.name, "type": k.kind, "default": k.default_value,
                            "description": k.description,
                        })).collect::<Vec<_>>(),
                    })
                })
                .chain(problems.iter().map(
                    |(path, why)| json!({"name": null, "origin": {"path": path}, "error": why}),
                ))
                .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    // A plugin's name, description and keys are its author's text: shown,
    // never acted on.
    for (i, s) in scorers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let mut from = match &s.origin {
            Origin::Builtin => "built in".to_owned(),
            Origin::Plugin { path, .. } => format!("plugin {}", path.display()),
        };
        // A scorer that reads the trace judges nothing in a dataset whose
        // records carry none: the list says which ones do.
        if s.needs_trace {
            from.push_str("; reads the trace");
        }
        writeln!(
            out,
            "{} {} ({})",
            visible(&s.name),
            visible(&s.version),
            visible(&from)
        )?;
        writeln!(out, "  {}", visible(&s.description))?;
        let width = s
            .config_keys
            .iter()
            .map(|k| visible(&k.name).chars().count())
            .max()
            .unwrap_or(0);
        for k in &s.config_keys {
            let default = if k.default_value.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", visible(&k.default_value))
            };
            writeln!(
                out,
                "  {:width$}  {}{default}",
                visible(&k.name),
                visible(&k.kind)
            )?;
            if !k.description.is_empty() {
                writeln!(out, "  {:width$}  {}", "", visible(&k.description))?;
            }
        }
    }
    if !problems.is_empty() {
        writeln!(out, "\nnot used, from {}:", verdict_scorer::PLUGIN_PATH_VAR)?;
        for (_, why) in &problems {
            writeln!(out, "  {}", visible(why))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
