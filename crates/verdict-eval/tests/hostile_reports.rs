//! Reports of runs whose data tries to become markup: link and image
//! syntax and HTML in record text, backticks in the dataset's name, and a
//! scorer whose name is Markdown. The Markdown report is rendered as
//! CommonMark (with GitHub's tables) and the HTML report read as it is:
//! nothing from data may come out as a link, an image or HTML.

use std::path::Path;

use pulldown_cmark::{Event, Options, Parser, Tag};
use verdict_eval::{Dataset, Evaluation, RunSummary, SuiteConfig, report};

/// What a record's output or rationale may hold.
const HOSTILE: [&str; 5] = [
    "![pwned](http://evil.example/x.png)",
    "[click me](javascript:alert(1))",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "&lt;b&gt; *em* _em_ `code` | cell | <http://evil.example>",
];

/// Renders `markdown` as CommonMark with tables, and returns its text,
/// after checking that nothing in it is a link, an image or HTML.
fn rendered_text(markdown: &str) -> String {
    let mut text = String::new();
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) => panic!("a live link to {dest_url}"),
            Event::Start(Tag::Image { dest_url, .. }) => panic!("a live image of {dest_url}"),
            Event::Html(html) | Event::InlineHtml(html) => panic!("live HTML: {html}"),
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            _ => {}
        }
    }
    text
}

fn run(dir: &Path, name: &str) -> RunSummary {
    let mut data = String::new();
    for (i, hostile) in HOSTILE.iter().enumerate() {
        data.push_str(
            &serde_json::json!({
                "inputs": format!("question {i} {hostile}"),
                "outputs": hostile,
                "expectations": {"expected_response": format!("answer {hostile}")},
            })
            .to_string(),
        );
        data.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let config = SuiteConfig::from_toml(
        "[[scorers]]\nspec = \"exact_match\"\nfail_under = 0.9\n",
        Path::new("verdict.toml"),
    )
    .unwrap();
    Evaluation::new(config)
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap()
}

#[test]
fn record_text_and_dataset_names_stay_text_in_the_markdown_report() {
    let dir = tempfile::tempdir().unwrap();
    let name = "qa` <img src=x onerror=alert(1)> [x](javascript:alert(1)) ``.jsonl";
    let summary = run(dir.path(), name);
    assert!(!summary.passed);
    let markdown = report::markdown(&summary);
    let text = rendered_text(&markdown);
    // Shown as written: the dataset's name whole, each record's text.
    assert!(text.contains(name), "{text}");
    for hostile in HOSTILE {
        assert!(
            text.contains(hostile),
            "{hostile} is not shown as text: {text}"
        );
    }
}

#[test]
fn a_scorer_named_in_markdown_stays_text_in_both_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = serde_json::to_value(run(dir.path(), "qa.jsonl")).unwrap();
    // A plugin names itself: the name is any text without a '.'.
    let scorer = "![x](javascript:alert(1))<script>alert(1)</script>\n# FAKE HEADING";
    summary["scorers"][0]["name"] = scorer.into();
    summary["gates"][0]["gate"] = format!("{scorer} pass rate ≥ 90.0 %").into();
    summary["dataset"] = "[a](http://evil.example) `".into();
    let summary: RunSummary = serde_json::from_value(summary).unwrap();

    let markdown = report::markdown(&summary);
    let text = rendered_text(&markdown);
    assert!(text.contains("![x](javascript:alert(1))<script>alert(1)</script>"));
    // One heading per scorer's worst records, and the title: no heading
    // made from the name's second line.
    assert!(
        !markdown.lines().any(|l| l.starts_with("# FAKE")),
        "{markdown}"
    );

    let html = report::html(&summary);
    for live in ["<script", "<img", "href=", "javascript:alert(1)\""] {
        assert!(!html.contains(live), "{live} in {html}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
