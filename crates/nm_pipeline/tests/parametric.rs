//! The parametric view's data side: encoder inputs with the map that reproduces them from
//! activations, and the cache of encoders (round trip, damage, headers that lie, stale data).

use nm_pipeline::{
    cache, cached_parametric, choose_samples, load_parametric_slice, parametric_path, store_parametric, EmbedParams,
    EncoderWeights, LayerEmbedding, ParametricLayer,
};
use nm_testkit::RunSpec;
use nm_umap::Control;

fn params() -> EmbedParams {
    EmbedParams { n_neighbors: 10, pca_dims: 12, ..EmbedParams::default() }
}

/// A layer's parametric embedding with the real input maps and made-up encoders (16 hidden units).
fn fake_layer(run: &nm_run::Run, layer: &str) -> ParametricLayer {
    let samples = choose_samples(run, &params());
    let (mut maps, mut encoders, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for &e in run.epochs() {
        let s = load_parametric_slice(run, layer, e, &samples, &params(), &Control::default()).unwrap();
        let dims = vec![s.map.input_dims(), 16, 2];
        let count = EncoderWeights::count(&dims).unwrap();
        encoders.push(EncoderWeights { dims, params: (0..count).map(|i| (i % 7) as f32 * 0.1 + e as f32).collect() });
        maps.push(s.map);
        positions.extend((0..samples.len() * 2).map(|i| i as f32 * 0.5 - e as f32));
    }
    let epochs = run.epochs().to_vec();
    ParametricLayer { embedding: LayerEmbedding { layer: layer.into(), epochs, samples, positions }, maps, encoders }
}

#[test]
fn the_input_map_reproduces_the_slice_from_its_activations() {
    let kit = RunSpec::new(90, 3).layers(&[("wide", 40), ("small", 6)]).epochs(&[0, 1]).write_temp("nm_param_map");
    let run = kit.open();
    let samples = choose_samples(&run, &params());
    for layer in ["wide", "small"] {
        let s = load_parametric_slice(&run, layer, 1, &samples, &params(), &Control::default()).unwrap();
        // PCA for the wide layer (40 > 12 columns), the rows as they are for the small one.
        assert_eq!(s.map.basis.is_some(), layer == "wide");
        assert_eq!(s.inputs.n_cols, if layer == "wide" { 12 } else { 6 });
        let rms = (s.inputs.data.iter().map(|v| v * v).sum::<f32>() / s.inputs.data.len() as f32).sqrt();
        assert!((rms - 1.0).abs() < 1e-3, "{layer}: inputs scaled to RMS 1, found {rms}");
        let again = s.map.apply(kit.activations(layer, 1)).unwrap();
        let err = again.data.iter().zip(&s.inputs.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 1e-4, "{layer}: the map reproduces the inputs within {err}");
        assert!(s.map.apply(vec![0.0; s.map.dim + 1]).is_err());
    }
}

#[test]
fn the_parametric_cache_round_trips_and_refuses_damage_lies_and_stale_data() {
    let kit = RunSpec::new(90, 3).layers(&[("wide", 40)]).epochs(&[0, 1, 2]).write_temp("nm_param_cache");
    let run = kit.open();
    assert!(cached_parametric(&run, "wide", &params()).is_none());
    let layer = fake_layer(&run, "wide");
    store_parametric(&run, &params(), &layer).unwrap();
    let back = cached_parametric(&run, "wide", &params()).expect("cached");
    assert_eq!(back.embedding.positions, layer.embedding.positions);
    assert_eq!(back.maps, layer.maps);
    assert_eq!(back.encoders, layer.encoders);
    assert_eq!(back.slice_of(2).unwrap(), 2);
    assert!(back.slice_of(7).unwrap_err().to_string().contains("0, 1, 2"));
    // Other parameters: another key, nothing cached.
    assert!(cached_parametric(&run, "wide", &EmbedParams { seed: 3, ..params() }).is_none());

    // A layer that does not fit the run is refused before writing.
    let mut wrong = layer.clone();
    wrong.encoders[1].params.pop();
    assert!(store_parametric(&run, &params(), &wrong).is_err());

    let path = parametric_path(&run, "wide", &params());
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    assert!(cached_parametric(&run, "wide", &params()).is_none(), "a flipped byte");
    // Intact files (valid checksum) whose header lies about the sizes.
    std::fs::write(&path, &good).unwrap();
    let (header, payload) = cache::read(&path).unwrap();
    let lies: [(&str, serde_json::Value); 4] = [
        ("/dim", 41.into()),
        ("/slices/1/encoder", serde_json::json!([12, 17, 2])),
        ("/slices/0/pca", 11.into()),
        ("/slices/2/encoder", serde_json::json!([12, 1usize << 40, 2])),
    ];
    for (at, value) in lies {
        let mut h = header.clone();
        *h.pointer_mut(at).unwrap() = value;
        cache::write(&path, &h, &payload).unwrap();
        assert!(cached_parametric(&run, "wide", &params()).is_none(), "header lies at {at}");
    }
    cache::write(&path, &header, &payload[..payload.len() - 4]).unwrap();
    assert!(cached_parametric(&run, "wide", &params()).is_none(), "a short payload");
    std::fs::write(&path, &good).unwrap();
    assert!(cached_parametric(&run, "wide", &params()).is_some());
    // New data for an epoch: stale.
    std::thread::sleep(std::time::Duration::from_millis(20));
    kit.write_epoch(1);
    let run = kit.open();
    assert!(cached_parametric(&run, "wide", &params()).is_none(), "stale after the run changed");
}
