"""Names of the run format (version 1): the manifest's format string and the files and folders of a run."""

#: The manifest's "format" value this package writes.
FORMAT = "neuromapper-run/1"

MANIFEST_FILE = "neuromapper.json"
LABELS_FILE = "labels.npy"
INPUTS_FILE = "inputs.npy"
METRICS_FILE = "metrics.json"
#: Written by `RunWriter.finish()` (or any trainer): the run is complete. Readers only check that
#: a regular file of this name exists; its content is informational.
FINISHED_FILE = "finished.json"
EPOCHS_DIR = "epochs"
PREDICTIONS_FILE = "predictions.npy"
#: An epoch's `<name>.values.npy` ([N] float) is a per-sample value called `<name>`, not a layer.
VALUES_SUFFIX = ".values"
#: Optional adversarial twins: [N] int, -1 for a clean sample, else the row of its clean twin.
TWINS_FILE = "twins.npy"
#: The optional static per-sample table (a header row, then one row per sample).
SAMPLES_FILE = "samples.csv"
#: neuromapper's own cache inside a run; writers never touch it.
CACHE_DIR = ".neuromapper"
