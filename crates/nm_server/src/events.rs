//! Every event the server pushes to browsers over `GET /api/events`: one enum, serialised in one
//! place as `{"type": "<kind>", ...fields}`. The viewer reads them through `ui/js/events.js`.

use serde::Serialize;

/// One server-sent event. `view` is a view key (`live`, or a parameter set's key).
#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent<'a> {
    /// First event of every stream.
    Hello,
    /// A computation of `layer`'s `view` is at `stage` (pca, neighbors, fuzzy_graph, init, layout).
    Progress {
        layer: &'a str,
        view: &'a str,
        stage: &'static str,
        fraction: f32,
    },
    /// `layer`'s `view` is ready to fetch; `refined`: the final view of a finished run.
    Done {
        layer: &'a str,
        view: &'a str,
        epochs: &'a [u32],
        refined: bool,
    },
    Failed {
        layer: &'a str,
        view: &'a str,
        error: String,
    },
    Cancelled {
        layer: &'a str,
        view: &'a str,
    },
    /// The run's epochs (or metrics) changed: fetch the summary again.
    Epochs {
        epochs: &'a [u32],
    },
    /// The run was marked finished; `refining`: refined views follow as `done` events.
    TrainingFinished {
        refining: bool,
    },
    /// Something about the whole run (it stopped validating, its samples changed).
    Error {
        error: String,
    },
}

impl ServerEvent<'_> {
    /// The event's JSON text (what goes after `data:`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!(r#"{{"type":"error","error":"cannot encode an event: {e}"}}"#))
    }

    /// The event's JSON text, with `"run": i` when it is about run `i` of several served together.
    pub fn to_json_of(&self, run: Option<usize>) -> String {
        let Some(i) = run else { return self.to_json() };
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.insert("run".into(), i.into());
                serde_json::Value::Object(m).to_string()
            }
            _ => self.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ServerEvent;

    #[test]
    fn events_are_tagged_with_their_type_in_snake_case() {
        let v: serde_json::Value = serde_json::from_str(
            &ServerEvent::Done { layer: "l1", view: "live", epochs: &[0, 1], refined: true }.to_json(),
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "done", "layer": "l1", "view": "live", "epochs": [0, 1], "refined": true})
        );
        let v: serde_json::Value =
            serde_json::from_str(&ServerEvent::TrainingFinished { refining: false }.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"type": "training_finished", "refining": false}));
        let v: serde_json::Value =
            serde_json::from_str(&ServerEvent::Epochs { epochs: &[3] }.to_json_of(Some(2))).unwrap();
        assert_eq!(v, serde_json::json!({"type": "epochs", "epochs": [3], "run": 2}));
    }
}
