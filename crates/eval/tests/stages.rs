//! The evaluation stages' policy, on a small real corpus embedded by a test-size model: which
//! clips are test clips, which k a retrieval scores, which tasks and spaces a probe accepts.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_artifacts::model_file::write_model_file;
use loev_artifacts::{HeadInfo, HeadRole, ModelFileInfo};
use loev_audio::frontend::FrontEndConfig;
use loev_eval::EvalError;
use loev_eval::embed::{EmbedJob, EmbedOptions};
use loev_eval::probe::embedded_tasks;
use loev_eval::stages::{
    ClipOptions, ModelSource, ProbeOptions, RetrieveOptions, open_or_embed, probe_spaces, retrieve_spaces, test_clips,
};
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-eval-stages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `seconds` of a tone at `hz` (16 kHz).
fn tone(hz: f32, seconds: f32) -> Vec<f32> {
    (0..(seconds * 16000.0) as usize)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin())
        .collect()
}

/// A manifest of five files: three music tracks (two in the test split), a note in the test
/// split, and a test track whose file is not audio.
fn corpus(root: &Path) -> PathBuf {
    let rows = [
        ("a", "track", "test", 220.0, "C major", "120", "piano"),
        ("b", "track", "train", 330.0, "G major", "90", "piano;drums"),
        ("n", "note", "test", 440.0, "", "", ""),
        ("c", "track", "test", 550.0, "A minor", "121", "drums"),
    ];
    let mut text = String::from("path,id,kind,split,key,tempo,tags\n");
    for (id, kind, split, hz, key, tempo, tags) in rows {
        loev_audio::wav::write_wav(&root.join(format!("{id}.wav")), &tone(hz, 3.5), 16000).unwrap();
        text.push_str(&format!("{id}.wav,{id},{kind},{split},{key},{tempo},{tags}\n"));
    }
    std::fs::write(root.join("broken.wav"), b"not audio at all").unwrap();
    text.push_str("broken.wav,broken,track,test,C major,100,piano\n");
    let manifest = root.join("manifest.csv");
    std::fs::write(&manifest, text).unwrap();
    manifest
}

#[test]
fn test_clips_are_the_decodable_music_tracks_of_the_test_split() {
    let root = temp_dir("clips");
    let manifest = corpus(&root);
    let chosen = test_clips(&manifest, &ClipOptions { max_clips: 10 }).unwrap();
    // a and c: not the training track b, not the note n; the broken file is reported.
    assert_eq!(chosen.results.len(), 2);
    assert_eq!(chosen.results[0].len(), 56_000);
    assert_eq!(chosen.left_out.len(), 1, "{:?}", chosen.left_out);
    assert!(chosen.left_out[0].0.ends_with("broken.wav"));
    // The first N in listing order.
    let first = test_clips(&manifest, &ClipOptions { max_clips: 1 }).unwrap();
    assert_eq!(first.results, chosen.results[..1]);
    // A folder has no split: every file that decodes.
    let folder = test_clips(&root, &ClipOptions { max_clips: 10 }).unwrap();
    assert_eq!(folder.results.len(), 4);
    // Nothing usable is an error naming the input.
    let empty = temp_dir("clips-none");
    std::fs::write(empty.join("x.wav"), b"nope").unwrap();
    let err = test_clips(&empty, &ClipOptions { max_clips: 3 }).unwrap_err();
    assert!(
        matches!(err, EvalError::Empty(_)) && err.to_string().contains("x.wav"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn retrieval_leaves_out_the_k_it_cannot_score_and_probes_name_unknown_tasks_and_spaces() {
    let root = temp_dir("retrieve");
    let manifest = corpus(&root);
    // A model file of the test-size model, opened as the CLI opens `--model FILE`.
    let config = LoevModelConfig::new(EncoderConfig::test(), vec!["invariant".into()]).with_projection_dims(vec![8]);
    let model = LoevModel::init(&config, &Device::flex(), 3);
    let file = root.join("tiny.safetensors");
    let heads = vec![HeadInfo {
        name: "invariant".into(),
        objective: HeadRole::Invariant,
    }];
    let info = ModelFileInfo::new(FrontEndConfig::default(), heads, "tiny".into(), None, 0);
    write_model_file(&file, &model, &config, &info).unwrap();
    let source = ModelSource::File(file);
    assert_eq!(source.name(), "tiny");
    let embedder = source.open(Device::flex(), EmbedOptions::default()).unwrap();
    let job = EmbedJob {
        progress: false,
        ..EmbedJob::default()
    };
    let out = root.join("embeddings");
    let (set, summary) = open_or_embed(&embedder, &manifest, &out, &job).unwrap();
    assert_eq!(summary.expect("embedded now").tracks, 4);
    // A second call reuses the finished folder.
    assert!(open_or_embed(&embedder, &manifest, &out, &job).unwrap().1.is_none());

    // Three labelled music tracks: a query has two neighbours, so k = 3 and 10 are left out.
    let options = RetrieveOptions {
        spaces: Vec::new(),
        ks: vec![1, 2, 3, 10],
        ..RetrieveOptions::default()
    };
    let run = retrieve_spaces(&set, "m", &options).unwrap();
    let spaces: Vec<&str> = run.results.iter().map(|r| r.space.as_str()).collect();
    assert_eq!(spaces, ["v", "z_invariant"]);
    for row in &run.results {
        assert_eq!(row.retrieval.iter().map(|s| s.k).collect::<Vec<_>>(), [1, 2]);
    }
    assert_eq!(run.left_out.len(), 2);
    assert_eq!(
        (run.left_out[0].ks.clone(), run.left_out[0].neighbours),
        (vec![3, 10], 2)
    );
    let zero = RetrieveOptions {
        ks: vec![0],
        ..RetrieveOptions::default()
    };
    assert!(retrieve_spaces(&set, "m", &zero).unwrap_err().to_string().contains("k"));

    let (tasks, _) = embedded_tasks(&set).unwrap();
    let unknown_task = ProbeOptions {
        tasks: vec!["mood".into()],
        ..ProbeOptions::default()
    };
    let err = probe_spaces(&set, "m", &tasks, &unknown_task, |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("`mood`"), "{err}");
    let unknown_space = ProbeOptions {
        spaces: vec!["zz".into()],
        ..ProbeOptions::default()
    };
    let err = probe_spaces(&set, "m", &tasks, &unknown_space, |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("zz"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
