//! The per-sample values the viewer can colour by: which ones the run has (listed in the summary)
//! and each one's numbers (`/api/values`). Ids name the source:
//! - `pred:confidence`, `pred:margin`, `pred:loss`: from predictions stored as `[N, C]` scores
//!   (`nm_pipeline::scores`), at each epoch that has them;
//! - `run:<name>`: the run's `epochs/<e>/<name>.values.npy`, at each epoch that has it;
//! - `csv:<column>`: a numeric column of `samples.csv`, one static row;
//! - `change`: per-sample neighbour change, per layer and view (`/api/change`, not here).
//!
//! `samples.csv`'s text columns are served as they are (`/api/sample-text`) for the tooltip.

use nm_run::{Run, SampleColumn, SamplesTable};
use serde_json::{json, Value};

/// The value ids derived from prediction scores, with their names and what they mean.
const PREDICTION_VALUES: [(&str, &str, &str); 3] = [
    ("pred:confidence", "confidence", "the model's probability for the class it predicts (softmax of the logits)"),
    ("pred:margin", "margin", "the top class's probability minus the runner-up's (0 = undecided)"),
    ("pred:loss", "loss", "cross-entropy against the true label, −ln p(label)"),
];

/// The summary's `values` list: `{id, name, source, per_epoch, per_layer, description}` for every
/// value the run has. `table` is the parsed `samples.csv`, if any.
pub fn value_list(run: &Run, table: Option<&SamplesTable>) -> Vec<Value> {
    let mut out = Vec::new();
    if !run.score_epochs().is_empty() {
        for (id, name, description) in PREDICTION_VALUES {
            out.push(json!({"id": id, "name": name, "source": "predictions", "per_epoch": true, "per_layer": false,
                            "description": description}));
        }
    }
    if run.epochs().len() > 1 {
        out.push(json!({"id": "change", "name": "neighbour change", "source": "layers", "per_epoch": true, "per_layer": true,
                        "description": "how much each sample's 15 nearest neighbours in this layer changed since the previous epoch (Jaccard distance: 0 = the same, 1 = all new)"}));
    }
    for name in run.value_names() {
        out.push(
            json!({"id": format!("run:{name}"), "name": name, "source": "run", "per_epoch": true, "per_layer": false,
                        "description": format!("the run's per-sample value `{name}` (epochs/<e>/{name}.values.npy)")}),
        );
    }
    for (name, col) in table.map(|t| t.columns.as_slice()).unwrap_or_default() {
        if matches!(col, SampleColumn::Numeric(_)) {
            out.push(json!({"id": format!("csv:{name}"), "name": name, "source": "samples.csv", "per_epoch": false,
                            "per_layer": false, "description": format!("column `{name}` of samples.csv")}));
        }
    }
    out
}

/// The numbers of value `id` over every sample: (the epochs of its rows, None for one static row;
/// the rows, `[R, N]` f32, NaN where unknown). Errors say what is wrong with the id or the data.
pub fn value_data(run: &Run, id: &str, table: Option<&SamplesTable>) -> Result<(Option<Vec<u32>>, Vec<f32>), String> {
    let n = run.n_samples();
    if let Some(which) = id.strip_prefix("pred:") {
        if !PREDICTION_VALUES.iter().any(|(i, _, _)| *i == id) {
            return Err(format!("no value `{id}`; from predictions there are confidence, margin and loss"));
        }
        let epochs = run.score_epochs();
        let mut rows = Vec::with_capacity(epochs.len() * n);
        for &e in &epochs {
            let (c, scores) = run.prediction_scores(e).map_err(|e| e.to_string())?.unwrap_or_default();
            let v = nm_pipeline::scores::prediction_values(run.labels(), c, &scores);
            let row = match which {
                "confidence" => v.confidence,
                "margin" => v.margin,
                _ => v.loss,
            };
            if row.len() != n {
                return Err(format!("predictions of epoch {e} have {} rows, expected {n}", row.len()));
            }
            rows.extend(row);
        }
        return Ok((Some(epochs), rows));
    }
    if let Some(name) = id.strip_prefix("run:") {
        let epochs = run.value_epochs(name);
        if epochs.is_empty() {
            return Err(format!("the run has no per-sample value `{name}` (epochs/<e>/{name}.values.npy)"));
        }
        let mut rows = Vec::with_capacity(epochs.len() * n);
        for &e in &epochs {
            rows.extend(run.values(name, e).map_err(|e| e.to_string())?.unwrap_or_else(|| vec![f32::NAN; n]));
        }
        return Ok((Some(epochs), rows));
    }
    if let Some(name) = id.strip_prefix("csv:") {
        let col = table.and_then(|t| t.columns.iter().find(|(c, _)| c == name)).map(|(_, c)| c);
        return match col {
            Some(SampleColumn::Numeric(v)) => Ok((None, v.clone())),
            Some(SampleColumn::Text(_)) => Err(format!("column `{name}` of samples.csv is text, not numbers")),
            None => Err(format!("samples.csv has no column `{name}`")),
        };
    }
    Err(format!("no value `{id}`; ids are pred:confidence|margin|loss, run:<name> and csv:<column> (see the summary's `values`)"))
}

/// `samples.csv`'s text columns: `{"columns": [name, ...], "rows": [[cell, ...] per column]}`.
pub fn text_columns(table: Option<&SamplesTable>) -> Value {
    let cols: Vec<(&String, &Vec<String>)> = table
        .map(|t| {
            t.columns
                .iter()
                .filter_map(|(name, c)| match c {
                    SampleColumn::Text(v) => Some((name, v)),
                    SampleColumn::Numeric(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"columns": cols.iter().map(|c| c.0).collect::<Vec<_>>(), "rows": cols.iter().map(|c| c.1).collect::<Vec<_>>()})
}
