//! Golden test of the front end against librosa 0.11 (files made by
//! `scripts/golden/make_frontend_golden.py`): max |Δ| of the compressed mel ≤ 1e-3 on noise,
//! pink noise, a chord, a synthetic music excerpt and a signal shorter than the FFT, for MULE's
//! settings, the 128-mel × 400-frame variant and librosa's own defaults (Slaney, dB); MULE's
//! slicer on the music excerpt.

use std::path::{Path, PathBuf};

use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_core::io::read_npy_f32;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn log_mel_matches_librosa() {
    let dir = golden_dir();
    let listing: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = listing["cases"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let cfg: FrontEndConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let fe = FrontEnd::new(cfg.clone()).unwrap();
        let (_, x) = read_npy_f32(&dir.join(case["input"].as_str().unwrap())).unwrap();
        let (shape, expected) = read_npy_f32(&dir.join(case["mel"].as_str().unwrap())).unwrap();
        let mel = fe.log_mel(&x);
        assert_eq!(
            [mel.n_mels as u64, mel.n_frames as u64],
            [shape[0], shape[1]],
            "{name}: shape"
        );
        let diff = max_abs_diff(&mel.data, &expected);
        let range = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        println!("{name}: {shape:?}, max |diff| = {diff:.2e} (values up to {range:.2})");
        assert!(diff <= 1e-3, "{name}: max |diff| {diff} > 1e-3");

        if let Some(slices_file) = case["slices"].as_str() {
            let (sshape, expected_slices) = read_npy_f32(&dir.join(slices_file)).unwrap();
            let hop = case["slice_hop_frames"].as_u64().unwrap() as usize;
            let slices = fe.slices(&mel, hop);
            assert_eq!(slices.len() as u64, sshape[0], "{name}: slice count");
            let centres: Vec<f64> = case["slice_centres_s"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let per = (sshape[1] * sshape[2]) as usize;
            for (k, (centre, slice)) in slices.iter().enumerate() {
                assert!(
                    (centre - centres[k]).abs() < 1e-9,
                    "{name}: centre {k}: {centre} vs {}",
                    centres[k]
                );
                let d = max_abs_diff(slice, &expected_slices[k * per..(k + 1) * per]);
                println!("{name}: slice {k} max |diff| = {d:.2e}");
                assert!(d <= 1e-3, "{name}: slice {k} max |diff| {d}");
            }
        }
    }
}

#[test]
fn the_128_mel_400_frame_variant_is_a_config() {
    let cfg: FrontEndConfig = toml::from_str("n_mels = 128\nframes = 400\n").unwrap();
    let fe = FrontEnd::new(cfg).unwrap();
    assert_eq!(fe.view_samples(), 64_000);
    let x: Vec<f32> = (0..64_000).map(|i| ((i as f32) * 0.07).sin() * 0.2).collect();
    let mut input = vec![0.0; 128 * 400];
    fe.view_input(&x, &mut input);
    assert!(input.iter().all(|v| v.is_finite()));
    let mel = fe.log_mel(&x);
    assert_eq!((mel.n_mels, mel.n_frames), (128, 401));
    // A wrong key is a clear error, not silently ignored.
    let err = toml::from_str::<FrontEndConfig>("n_mel = 128\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("n_mel"), "{err}");
    let cfg: FrontEndConfig = toml::from_str("compression = { kind = \"db\", amin = 1e-10, top_db = 80.0 }\n").unwrap();
    assert!(FrontEnd::new(cfg).is_ok());
    assert!(toml::from_str::<FrontEndConfig>("compression = { kind = \"log10_nonneg\", scal = 1.0 }\n").is_err());
}

#[test]
fn slicer_follows_mule_on_lengths() {
    let fe = FrontEnd::new(FrontEndConfig::default()).unwrap();
    // 6 s → 601 frames → centres 200, 400, 600 → clamped to 200, 400, 451 (MULE README: 3).
    let mel = fe.log_mel(&vec![0.1; 96_000]);
    let starts: Vec<f64> = fe.slices(&mel, 200).iter().map(|(c, _)| *c).collect();
    assert_eq!(starts, vec![2.0, 4.0, 4.51]);
    // A 1 s file: MULE yields nothing; loev one padded slice.
    let x: Vec<f32> = (0..16_000).map(|i| ((i as f32) * 0.3).sin()).collect();
    let mel = fe.log_mel(&x);
    let slices = fe.slices(&mel, 200);
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0].0, 0.505); // the middle of the 101 frames of audio
    assert_eq!(slices[0].1.len(), 96 * 300);
    // The padded tail (frames 101..300) holds one value per slice: silence, standardised.
    let tail = slices[0].1[250];
    assert!(slices[0].1[101..300].iter().all(|&v| v == tail));
    assert!(slices[0].1[..101].iter().any(|&v| v != tail));
}
