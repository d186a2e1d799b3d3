//! Write scorers for Verdict: the authoring trait, and the stable C ABI
//! that lets the `verdict` host load them from dynamic libraries.
//!
//! A scorer implements [`Scorer`]: it has a name, a version and a
//! description, is built from a JSON [`Config`], and scores a [`Record`]
//! (`inputs`, `outputs`, named `expectations`) into a [`Score`] — a bool, a
//! number or a label, with an optional rationale — or a [`ScoreError`].
//! One line, [`export_plugin!`], makes a `cdylib` crate a plugin; its
//! author writes no `unsafe`.
//!
//! The boundary is a C ABI (see [`abi`] and `include/verdict_plugin.h`),
//! shaped by one decision: **borrowed inputs, host-owned outputs**. The
//! host lays records out in memory once and the plugin reads them in place;
//! the plugin writes results, text included, into memory the host owns.
//! Nothing allocated on one side is freed on the other, so the host and
//! the plugin may use different allocators, standard libraries, or
//! languages. A batch entry point lets one call score many records, and
//! the 48-byte result a plugin writes per record is the very result the
//! host keeps ([`Results`]): checked once (a plugin built with this kit
//! vouches for its results, so only the text a call copied is), never
//! converted, its texts pointing at one shared copy per call,
//! or, from a plugin that vouches for them, at its static text. The call
//! itself costs nothing measurable (BENCHMARKS.md compares a loaded
//! plugin with the same type called directly).
//!
//! The host trusts no value a plugin hands back ([`host`]): a length is
//! checked against what the host handed over and against a limit before
//! anything is read or allocated, a text buffer the plugin moved or
//! overfilled and a result written past the slots it was given are caught,
//! and static text is copied, so a plugin that rewrites it later changes
//! nothing kept. Each such fault becomes an error on the records it
//! touched. What a host cannot catch in its own process — a pointer to
//! memory that is not mapped, a write past the memory it handed over, a
//! crash, a hang, an exit — only running the plugin in a process of its
//! own protects against.
//!
//! Everything else follows rules that keep plugins of other versions
//! loadable ([`abi`]): entry points named for their scorer (as SQLite's
//! extensions are), so that several plugins link into one program, with a
//! generic one as the fallback; a descriptor that only grows at its end
//! and says the oldest host version it works with; panics caught on the
//! plugin's side of the boundary. The alternative, one generic symbol per
//! library, kept each plugin crate from being a plain dependency of a
//! program that links others.
//!
//! A scorer that judges what the traced application did, not only what it
//! answered, sets [`Scorer::NEEDS_TRACE`] and reads each record's
//! [`Trace`] (its spans, with their ids, times, status, attributes and
//! events), handed beside the record by an entry point of its own
//! ([`trace`]); no other scorer is handed one, or pays for it.
//!
//! Scorers of one kind share the methods they would all write alike:
//! [`score_with_scratch!`] for buffers reused through a batch,
//! [`judge_trace_only!`] for a scorer that judges the trace alone,
//! [`score_by_writing_rationale!`] for one that writes its rationale into
//! the call's buffer.
//!
//! Scorers that compare text share its normalization through [`text`]:
//! case folding, and the steps of SQuAD's `normalize_answer`. Scorers whose
//! number runs from 0 to 1 read their pass mark with [`PassMark`].
//!
//! Scorers that write numbers into a rationale for every record write them
//! through [`decimal`], as `format!` would but without its cost, into the
//! one buffer of a call ([`Scorer::score_writing_rationale`]).
//!
//! This crate depends on `serde_json` (for configs) and `itoa` (which
//! `serde_json` builds on), and nothing else.
#![deny(missing_docs)]

pub mod abi;
mod config;
pub mod decimal;
#[doc(hidden)]
pub mod export;
pub mod host;
mod pass_mark;
mod record;
mod references;
mod results;
mod scorer;
mod scorer_macros;
mod testing;
pub mod text;
pub mod trace;

pub use abi::ConfigKey;
pub use config::{Config, ConfigError};
pub use pass_mark::PassMark;
pub use record::{NamedValue, Record, Value};
pub use results::{Results, ScoreRef, ScoreValueRef};
pub use scorer::{Outcome, Score, ScoreError, ScoreValue, Scorer};
pub use testing::{
    check_abi, check_config_errors, check_reference_errors, config_error, score_one, through_abi,
    through_abi_traced,
};
pub use trace::{Span, SpanEvent, SpanHead, Trace};
